import IMAPCore

/// The annotated transcript for people: relative time, direction, the line, its annotation.
///
///     0.000  S  * OK [CAPABILITY IMAP4rev1 …] ready     greeting: the server is ready …
///     0.012  C  a1 LOGIN alice ‹redacted:1a2b3c4d›       log in as alice (password redacted)
public final class TextWriter: EventSink {
    public var readsWire: Bool { false }
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

    /// `sessionsBefore`: sessions already written to the same output by another writer (each of
    /// `read --jobs`'s files has a writer of its own); with any, every line names its session.
    public init(_ out: ByteOutput, style: Style, sessionsBefore: Int = 0) {
        self.out = out
        self.style = style
        sessionsSeen = sessionsBefore
    }

    private func paint(_ s: String, _ code: String) -> String {
        style.color ? "\u{1B}[\(code)m\(s)\u{1B}[0m" : s
    }

    public func write(_ event: Event) {
        // Wire text (names, server text, reasons, annotations) must not reach the terminal raw.
        var e = event
        if let a = e.annotation { e.annotation = terminalSafe(a) }
        let safe = terminalSafe
        let start = starts[e.session] ?? e.time
        // Forget an ended session's start, so a capture of many sessions does not grow this.
        if e.kind == .sessionEnd { starts[e.session] = nil }
        if case .sessionStart(let s) = e.body {
            starts[e.session] = e.time
            sessionsSeen += 1
            let transport = s.transport.map { ", \(safe($0))" } ?? ""
            out.write(
                paint(
                    "── session \(e.session): \(safe(s.client)) → \(safe(s.server)) (\(safe(s.source))\(transport)), "
                        + e.time.rfc3339, "1") + "\n")
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
        switch e.body {
        case .command, .tagged, .untagged, .continuation, .sasl, .idleDone:
            let d = e.dir ?? .server
            dirMark = d == .client ? paint("C", "36") : (d == .server ? paint("S", "32") : paint("P", "35"))
            body = safe(e.body.line ?? "")
        case .lint(let lint):
            let colour = lint.level == .error ? "31" : (lint.level == .info ? "34" : "33")
            dirMark = paint("!", colour)
            body = paint("\(lint.level.rawValue): \(safe(lint.message))", colour)
        case .fault(let f):
            // Provoked on purpose: marked so a recording shows what was injected.
            dirMark = paint("⚡", "1;35")
            var t = "‹fault \(safe(f.action))"
            if let tag = f.tag { t += " on \(safe(tag)) \(safe(f.command ?? ""))" }
            t += ": \(safe(f.detail)) (rule: \(safe(f.rule)))›"
            body = paint(t, "1;35")
        case .unparsed(let u):
            dirMark = paint("?", "31")
            body = paint("‹unparsed \(e.dir?.rawValue ?? "") bytes: \(safe(u.reason))›", "31") + " " + safe(u.raw)
        case .gap(let gap):
            dirMark = paint("~", "31")
            body = paint("‹\(gap.missing) \(e.dir?.rawValue ?? "") bytes missing from the capture›", "31")
        case .tls(let tls):
            dirMark = paint("*", "35")
            var t = "‹TLS \(safe(tls.phase)) on the \(safe(tls.leg)) leg"
            if let sni = tls.sni { t += ", server name \(safe(sni))" }
            if let v = tls.versionsOffered, !v.isEmpty { t += ", client offers \(safe(v.joined(separator: " ")))" }
            if let v = tls.version { t += ", \(safe(v))" }
            if let c = tls.cipher { t += " \(safe(c))" }
            if let a = tls.alpn { t += ", ALPN \(safe(a))" }
            if let d = tls.decrypted { t += d ? ", decrypted with the key log" : ", not decrypted" }
            body = paint(t + "›", "35")
        case .compress(let c):
            dirMark = paint("*", "35")
            body = paint("‹COMPRESS \(safe(c.algorithm)) active›", "35")
        case .sessionEnd(let end):
            var s = "── end of session \(e.session): \(safe(end.reason))"
            if let n = end.commands { s += ", \(n) command(s)" }
            if let d = end.durationMs { s += " in \(Decimal.format(d / 1000, 3)) s" }
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

    private func visibleWidth(_ s: String) -> Int {
        var n = 0
        var inEscape = false
        for u in s.unicodeScalars {
            if inEscape {
                if u == "m" { inEscape = false }
                continue
            }
            if u == "\u{1B}" {
                inEscape = true
                continue
            }
            n += 1
        }
        return n
    }
}

extension String {
    func leftPadded(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
