/// The secrets an NSS key log (the `SSLKEYLOGFILE` format that browsers, curl, OpenSSL and
/// Python write) holds for one TLS connection, found by the ClientHello's random.
public struct TLSSessionSecrets: Sendable, Equatable {
    /// TLS 1.2 and older: `CLIENT_RANDOM` gives the 48-byte master secret.
    public var masterSecret: [UInt8]?
    /// TLS 1.3 (RFC 8446 §7.1): the handshake traffic secrets and the first application ones.
    public var clientHandshakeTrafficSecret: [UInt8]?
    public var serverHandshakeTrafficSecret: [UInt8]?
    public var clientTrafficSecret0: [UInt8]?
    public var serverTrafficSecret0: [UInt8]?

    public init() {}

    /// Whether TLS 1.3 application data can be opened (the handshake secrets only find where it starts).
    var hasTLS13Traffic: Bool { clientTrafficSecret0 != nil && serverTrafficSecret0 != nil }
}

/// A bad line of a key log. The message names the line and what is wrong with it, never the
/// secret it carries.
public struct KeyLogError: Error, CustomStringConvertible, Equatable {
    public var line: Int
    public var reason: String
    public var description: String { "key log line \(line): \(reason)" }
}

/// An NSS key log: `LABEL <client random, 64 hex digits> <secret, hex>` per line, `#` comments and
/// blank lines allowed. Labels imapscope cannot use (early data, exporters) are checked and skipped.
public struct KeyLog: Sendable {
    public private(set) var sessions: [[UInt8]: TLSSessionSecrets] = [:]
    /// Lines that carried a secret imapscope uses.
    public private(set) var entries = 0

    static let knownUnused: Set<String> = [
        "CLIENT_EARLY_TRAFFIC_SECRET", "EARLY_EXPORTER_SECRET", "EXPORTER_SECRET", "EARLY_EXPORTER_MASTER_SECRET",
    ]

    public init() {}

    /// Parses a whole key log. A line without its final newline is parsed too: a key log is
    /// complete when the client wrote it.
    public init(parsing bytes: [UInt8]) throws {
        var lineNumber = 0
        for line in bytes.split(separator: 0x0A, omittingEmptySubsequences: false) {
            lineNumber += 1
            try add(line: line, number: lineNumber)
        }
    }

    public func secrets(forClientRandom random: [UInt8]) -> TLSSessionSecrets? { sessions[random] }

    mutating func add(line raw: ArraySlice<UInt8>, number: Int) throws {
        var line = raw
        if line.last == 0x0D { line = line.dropLast() }
        let fields = line.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 })
        guard let first = fields.first, first.first != UInt8(ascii: "#") else { return }
        let label = String(decoding: first, as: UTF8.self)
        guard fields.count == 3 else {
            throw KeyLogError(
                line: number,
                reason: "expected 3 fields (label, client random, secret), found \(fields.count)")
        }
        let known = Self.secretLength(label) != nil || Self.knownUnused.contains(label)
        guard known else {
            // Only a label made of the characters labels use is named: anything else may be a secret.
            let printable = label.count <= 40 && label.utf8.allSatisfy { ($0 >= 0x41 && $0 <= 0x5A) || $0 == 0x5F }
            throw KeyLogError(line: number, reason: printable ? "unknown label \(label)" : "unknown label")
        }
        guard let random = Self.hexBytes(fields[1]), random.count == 32 else {
            throw KeyLogError(line: number, reason: "the client random is not 64 hex digits")
        }
        guard let secret = Self.hexBytes(fields[2]), !secret.isEmpty else {
            throw KeyLogError(line: number, reason: "the secret of \(label) is not hex digits")
        }
        guard let lengths = Self.secretLength(label) else { return }
        guard lengths.contains(secret.count) else {
            let want = lengths.map { "\($0)" }.joined(separator: " or ")
            throw KeyLogError(
                line: number, reason: "the secret of \(label) has \(secret.count) bytes, expected \(want)")
        }
        var session = sessions[random] ?? TLSSessionSecrets()
        switch label {
        case "CLIENT_RANDOM": session.masterSecret = secret
        case "CLIENT_HANDSHAKE_TRAFFIC_SECRET": session.clientHandshakeTrafficSecret = secret
        case "SERVER_HANDSHAKE_TRAFFIC_SECRET": session.serverHandshakeTrafficSecret = secret
        case "CLIENT_TRAFFIC_SECRET_0": session.clientTrafficSecret0 = secret
        case "SERVER_TRAFFIC_SECRET_0": session.serverTrafficSecret0 = secret
        default: return
        }
        sessions[random] = session
        entries += 1
    }

    /// Secret sizes per label: a master secret is 48 bytes (RFC 5246 §8.1), a TLS 1.3 secret is
    /// as long as the suite's hash (SHA-256 or SHA-384).
    static func secretLength(_ label: String) -> [Int]? {
        switch label {
        case "CLIENT_RANDOM": return [48]
        case "CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET", "CLIENT_TRAFFIC_SECRET_0",
            "SERVER_TRAFFIC_SECRET_0":
            return [32, 48]
        default: return nil
        }
    }

    static func hexBytes(_ hex: ArraySlice<UInt8>) -> [UInt8]? {
        guard hex.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(hex.count / 2)
        var position = hex.startIndex
        while position < hex.endIndex {
            guard let hi = nibble(hex[position]), let lo = nibble(hex[position + 1]) else { return nil }
            out.append(hi << 4 | lo)
            position += 2
        }
        return out
    }

    private static func nibble(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: return byte - 0x30
        case 0x41...0x46: return byte - 0x41 + 10
        case 0x61...0x66: return byte - 0x61 + 10
        default: return nil
        }
    }
}

extension Array where Element == UInt8 {
    /// Lower-case hex, for client randoms in messages (a client random is public: it crosses the wire).
    var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(count * 2)
        for byte in self {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
