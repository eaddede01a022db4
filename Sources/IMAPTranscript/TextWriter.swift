import IMAPCore

/// The annotated transcript for people: relative time, direction, the line, its annotation.
///
///     0.000  S  * OK [CAPABILITY IMAP4rev1 …] ready     greeting: the server is ready …
///     0.012  C  a1 LOGIN alice ‹redacted:1a2b3c4d›       log in as alice (password redacted)
public final class TextWriter: EventSink {
    public var readsWire: Bool { false }
    public var readsDigests: Bool { false }
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

    private func paint(_ text: String, _ code: String) -> String {
        style.color ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text
    }

    public func write(_ event: Event) {
        // Wire text (names, server text, reasons, annotations) must not reach the terminal raw.
        var shown = event
        if let annotation = shown.annotation { shown.annotation = terminalSafe(annotation) }
        let safe = terminalSafe
        let start = starts[shown.session] ?? shown.time
        // Forget an ended session's start, so a capture of many sessions does not grow this.
        if shown.kind == .sessionEnd { starts[shown.session] = nil }
        if case .sessionStart(let sessionStart) = shown.body {
            starts[shown.session] = shown.time
            sessionsSeen += 1
            let transport = sessionStart.transport.map { ", \(safe($0))" } ?? ""
            out.write(
                paint(
                    "── session \(shown.session): \(safe(sessionStart.client)) → \(safe(sessionStart.server)) (\(safe(sessionStart.source))\(transport)), "
                        + shown.time.rfc3339, "1") + "\n")
            lastSession = shown.session
            return
        }
        var prefix = ""
        if sessionsSeen > 1 || (lastSession != nil && lastSession != shown.session) {
            prefix = paint("[\(shown.session)] ", "2")
        }
        lastSession = shown.session
        let rel = Decimal.format(shown.time.milliseconds(since: start) / 1000, 3).leftPadded(9)
        var dirMark: String
        var body: String
        switch shown.body {
        case .command, .tagged, .untagged, .continuation, .sasl, .idleDone:
            let side = shown.dir ?? .server
            dirMark = side == .client ? paint("C", "36") : (side == .server ? paint("S", "32") : paint("P", "35"))
            body = safe(shown.body.line ?? "")
        case .lint(let lint):
            let colour = lint.level == .error ? "31" : (lint.level == .info ? "34" : "33")
            dirMark = paint("!", colour)
            body = paint("\(lint.level.rawValue): \(safe(lint.message))", colour)
        case .fault(let fault):
            // Provoked on purpose: marked so a recording shows what was injected.
            dirMark = paint("⚡", "1;35")
            var text = "‹fault \(safe(fault.action))"
            if let tag = fault.tag { text += " on \(safe(tag)) \(safe(fault.command ?? ""))" }
            text += ": \(safe(fault.detail)) (rule: \(safe(fault.rule)))›"
            body = paint(text, "1;35")
        case .unparsed(let unparsed):
            dirMark = paint("?", "31")
            body =
                paint("‹unparsed \(shown.dir?.rawValue ?? "") bytes: \(safe(unparsed.reason))›", "31") + " "
                + safe(unparsed.raw)
        case .gap(let gap):
            dirMark = paint("~", "31")
            body = paint("‹\(gap.missing) \(shown.dir?.rawValue ?? "") bytes missing from the capture›", "31")
        case .tls(let tls):
            dirMark = paint("*", "35")
            var summary = "‹TLS \(safe(tls.phase)) on the \(safe(tls.leg)) leg"
            if let sni = tls.sni { summary += ", server name \(safe(sni))" }
            if let versions = tls.versionsOffered, !versions.isEmpty {
                summary += ", client offers \(safe(versions.joined(separator: " ")))"
            }
            if let version = tls.version { summary += ", \(safe(version))" }
            if let cipher = tls.cipher { summary += " \(safe(cipher))" }
            if let alpn = tls.alpn { summary += ", ALPN \(safe(alpn))" }
            if let decrypted = tls.decrypted {
                summary += decrypted ? ", decrypted with the key log" : ", not decrypted"
            }
            body = paint(summary + "›", "35")
        case .compress(let compress):
            dirMark = paint("*", "35")
            body = paint("‹COMPRESS \(safe(compress.algorithm)) active›", "35")
        case .sessionEnd(let end):
            var text = "── end of session \(shown.session): \(safe(end.reason))"
            if let commands = end.commands { text += ", \(commands) command(s)" }
            if let durationMs = end.durationMs { text += " in \(Decimal.format(durationMs / 1000, 3)) s" }
            out.write(prefix + paint(text, "1") + "\n")
            return
        case .sessionStart:
            return
        }
        var line = "\(prefix)\(rel)  \(dirMark)  \(body)"
        if let annotation = shown.annotation, !annotation.isEmpty {
            let visible = visibleWidth(line)
            let note = paint(annotation, "2")
            if visible + 2 <= style.annotationColumn {
                line += String(repeating: " ", count: style.annotationColumn - visible) + note
            } else {
                line += "\n" + String(repeating: " ", count: style.annotationColumn) + note
            }
        }
        out.write(line + "\n")
    }

    public func finish() { out.flush() }

    private func visibleWidth(_ text: String) -> Int {
        var width = 0
        var inEscape = false
        for scalar in text.unicodeScalars {
            if inEscape {
                if scalar == "m" { inEscape = false }
                continue
            }
            if scalar == "\u{1B}" {
                inEscape = true
                continue
            }
            width += 1
        }
        return width
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
