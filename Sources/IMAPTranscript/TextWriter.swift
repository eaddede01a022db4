import IMAPCore

/// The annotated transcript for people: relative time, direction, the line, its annotation.
///
///     0.000  S  * OK [CAPABILITY IMAP4rev1 …] ready     greeting: the server is ready …
///     0.012  C  a1 LOGIN alice ‹redacted:1a2b3c4d›       log in as alice (password redacted)
public final class TextWriter: EventSink {
    public struct Style: Sendable {
        public var color: Bool
        /// Column where annotations start; longer lines put theirs on the next line.
        public var annotationColumn: Int = 72
        public init(color: Bool) { self.color = color }
    }

    private let out: ByteOutput
    private let style: Style
    private var starts: [String: Timestamp] = [:]
    private var lastSession: String?
    private var sessionsSeen = 0

    public init(_ out: ByteOutput, style: Style) {
        self.out = out
        self.style = style
    }

    private func paint(_ s: String, _ code: String) -> String {
        style.color ? "\u{1B}[\(code)m\(s)\u{1B}[0m" : s
    }

    public func write(_ event: Event) {
        // Wire text (names, server text, reasons, annotations) must not reach the terminal raw.
        var e = event
        e.fields = e.fields.map { (key: String, value: JSONValue) -> (String, JSONValue) in
            (key, Self.safe(value))
        }
        if let a = e.annotation { e.annotation = terminalSafe(a) }
        let start = starts[e.session] ?? e.time
        // Forget an ended session's start, so a capture of many sessions does not grow this.
        if e.kind == .sessionEnd { starts[e.session] = nil }
        if e.kind == .sessionStart {
            starts[e.session] = e.time
            sessionsSeen += 1
            let c = e["client"]?.stringValue ?? "?", s = e["server"]?.stringValue ?? "?"
            let src = e["source"]?.stringValue ?? "?"
            let tr = e["transport"]?.stringValue.map { ", \($0)" } ?? ""
            out.write(paint("── session \(e.session): \(c) → \(s) (\(src)\(tr)), \(e.time.rfc3339)", "1") + "\n")
            lastSession = e.session
            return
        }
        var prefix = ""
        if sessionsSeen > 1 || (lastSession != nil && lastSession != e.session) {
            prefix = paint("[\(e.session)] ", "2")
        }
        lastSession = e.session
        let rel = Decimal.format(e.time.milliseconds(since: start) / 1000, 3).leftPadded(9)
        var dirMark: String
        var body: String
        switch e.kind {
        case .command, .tagged, .untagged, .continuation, .sasl, .idleDone:
            let d = e.dir ?? .server
            dirMark = d == .client ? paint("C", "36") : (d == .server ? paint("S", "32") : paint("P", "35"))
            body = e["line"]?.stringValue ?? ""
        case .lint:
            let level = e["level"]?.stringValue ?? "warning"
            dirMark = paint("!", level == "error" ? "31" : (level == "info" ? "34" : "33"))
            body = paint("\(level): \(e["message"]?.stringValue ?? "")", level == "error" ? "31" : (level == "info" ? "34" : "33"))
        case .unparsed:
            dirMark = paint("?", "31")
            body = paint("‹unparsed \(e.dir?.rawValue ?? "") bytes: \(e["reason"]?.stringValue ?? "")›", "31") + " " + (e["raw"]?.stringValue ?? "")
        case .gap:
            dirMark = paint("~", "31")
            body = paint("‹\(e["missing"]?.intValue ?? 0) \(e.dir?.rawValue ?? "") bytes missing from the capture›", "31")
        case .tls:
            dirMark = paint("*", "35")
            var t = "‹TLS \(e["phase"]?.stringValue ?? "") on the \(e["leg"]?.stringValue ?? "") leg"
            if let sni = e["sni"]?.stringValue { t += ", server name \(sni)" }
            if let v = e["versions_offered"]?.arrayValue?.compactMap(\.stringValue), !v.isEmpty { t += ", client offers \(v.joined(separator: " "))" }
            if let v = e["version"]?.stringValue { t += ", \(v)" }
            if let c = e["cipher"]?.stringValue { t += " \(c)" }
            body = paint(t + "›", "35")
        case .compress:
            dirMark = paint("*", "35")
            body = paint("‹COMPRESS \(e["algorithm"]?.stringValue ?? "") active›", "35")
        case .sessionEnd:
            var s = "── end of session \(e.session): \(e["reason"]?.stringValue ?? "")"
            if let n = e["commands"]?.intValue { s += ", \(n) command(s)" }
            if let d = e["duration_ms"]?.doubleValue { s += " in \(Decimal.format(d / 1000, 3)) s" }
            out.write(prefix + paint(s, "1") + "\n")
            return
        case .sessionStart:
            return
        }
        var line = "\(prefix)\(rel)  \(dirMark)  \(body)"
        if let a = e.annotation, !a.isEmpty {
            let visible = visibleWidth(line)
            let note = paint(a, "2")
            if visible + 2 <= style.annotationColumn {
                line += String(repeating: " ", count: style.annotationColumn - visible) + note
            } else {
                line += "\n" + String(repeating: " ", count: style.annotationColumn) + note
            }
        }
        out.write(line + "\n")
    }

    public func finish() { out.flush() }

    static func safe(_ v: JSONValue) -> JSONValue {
        switch v {
        case .string(let s): return .string(terminalSafe(s))
        case .array(let a): return .array(a.map(safe))
        case .object(let o): return .object(o.map { (key: String, value: JSONValue) -> (String, JSONValue) in (key, safe(value)) })
        default: return v
        }
    }

    private func visibleWidth(_ s: String) -> Int {
        var n = 0
        var inEscape = false
        for u in s.unicodeScalars {
            if inEscape { if u == "m" { inEscape = false }; continue }
            if u == "\u{1B}" { inEscape = true; continue }
            n += 1
        }
        return n
    }
}

extension String {
    func leftPadded(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
