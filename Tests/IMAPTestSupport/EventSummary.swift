import Foundation
import IMAPCore

/// One short line per event: the shape every test target asserts event sequences in.
///
///     "C a1 LOGIN", "S a1 OK LOGIN", "S * 3 EXISTS", "S +", "C sasl PLAIN 2", "C DONE",
///     "lint cleartext-login", "gap client 9", "tls starttls imap.test", "compress", "start", "end"
public enum EventSummary {
    public static func line(_ e: Event) -> String {
        func s(_ k: String) -> String { e[k]?.stringValue ?? "" }
        // Responses from the server are "S", ones imapscope's proxy wrote itself "P".
        let from = e.dir == .proxy ? "P" : "S"
        switch e.kind {
        case .command: return "C \(s("tag")) \(e["uid"]?.boolValue == true ? "UID " : "")\(s("name"))"
        case .tagged: return "\(from) \(s("tag")) \(s("status"))" + (e["command"] != nil ? " \(s("command"))" : "")
        case .untagged: return "\(from) * " + (e["number"]?.intValue.map { "\($0) " } ?? "") + s("name")
        case .continuation: return "S +"
        case .sasl: return "\(e.dir == .client ? "C" : "S") sasl \(s("mechanism")) \(e["step"]?.intValue ?? 0)"
        case .idleDone: return "C DONE"
        case .lint: return "lint \(s("code"))"
        case .fault: return "fault \(s("action"))"
        case .unparsed: return "\(e.dir == .client ? "C" : "S") unparsed"
        case .gap: return "gap \(e.dir?.rawValue ?? "") \(e["missing"]?.intValue ?? 0)"
        case .tls: return "tls \(s("phase"))" + (e["sni"].map { " \($0.stringValue ?? "")" } ?? "")
        case .compress: return "compress"
        case .sessionStart: return "start"
        case .sessionEnd: return "end"
        }
    }

    public static func lines(_ events: [Event]) -> [String] { events.map(line) }
}

/// Ways a password could leak into an output: the word itself (outside imapscope's own prose
/// about passwords) and its base64 encodings at each of the three alignments (SASL PLAIN and
/// LOGIN carry it base64-encoded).
public struct SecretScan: Sendable {
    public let secret: String
    public init(_ secret: String) { self.secret = secret }

    /// Phrases imapscope itself writes that contain the word "password" (annotations and lint
    /// messages); they describe a password, they do not contain one.
    public static let prose = [
        "(password redacted)", "sends the password in cleartext", "bytes, password›",
        "LOGIN needs a user name and a password",
    ]

    public var base64Forms: [String] {
        let bytes = Array(secret.utf8)
        var forms: [String] = []
        for k in 0..<3 {
            let padded = [UInt8](repeating: 0, count: k) + bytes
            let b64 = Array(Data(padded).base64EncodedString().utf8)
            // Characters that depend only on secret bytes: whole 3-byte groups inside the secret.
            let first = (k + 2) / 3 * 3
            let end = (k + bytes.count) / 3 * 3
            guard end > first else { continue }
            forms.append(String(decoding: b64[(first / 3 * 4)..<(end / 3 * 4)], as: UTF8.self))
        }
        return forms
    }

    /// Every leak found in `output`: empty when there is none.
    public func leaks(in output: String) -> [String] {
        var rest = output
        for p in Self.prose { rest = rest.replacingOccurrences(of: p, with: "") }
        var found: [String] = []
        if rest.contains(secret) { found.append(secret) }
        for f in base64Forms where output.contains(f) { found.append("base64 \(f)") }
        return found
    }
}
