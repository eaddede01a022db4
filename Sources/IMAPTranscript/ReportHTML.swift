import IMAPCore

/// Renders a `ReportModel` as one self-contained HTML file: inline CSS and script, the data in an
/// inline JSON block that the script turns into tables, SVG timelines and transcript pages as
/// they are looked at (so a report of 100,000 commands opens without building a million nodes).
/// Nothing from the wire is ever written as markup: the JSON block escapes `<`, `>` and `&`, and
/// the script puts every string into the page as text (`textContent`, `setAttribute`).
public enum ReportHTML {
    public static func render(_ model: ReportModel, title: String, inputs: [String], to out: ByteOutput) {
        out.write(
            """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escape(title))</title>
            <style>\(ReportAssets.css)</style>
            </head><body>
            <header><h1>\(escape(title))</h1><p id="overview"></p></header>
            <noscript><p>This report draws its tables with JavaScript; enable it to see them.</p></noscript>
            \(ReportAssets.skeleton)
            <script type="application/json" id="report-data">
            """)
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 17)
        writeData(model, inputs: inputs, to: &buffer, flushingTo: out)
        out.write(buffer)
        out.write("</script>\n<script>\(ReportAssets.script)</script>\n</body></html>\n")
        out.flush()
    }

    /// Text for an HTML element or a quoted attribute.
    public static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// The JSON block: `<`, `>` and `&` only ever occur inside its strings, written as `\u003c`
    /// and so on, so no text can close the script element or open another.
    static func writeData(_ m: ReportModel, inputs: [String], to b: inout [UInt8], flushingTo out: ByteOutput) {
        func flush() {
            if b.count >= 1 << 16 {
                out.write(b)
                b.removeAll(keepingCapacity: true)
            }
        }
        func raw(_ s: String) { b.append(contentsOf: s.utf8) }
        func str(_ s: String) { writeString(s, to: &b) }
        func num(_ v: Double?) { raw(v.map { Decimal.format($0, 3) } ?? "null") }
        func list(_ items: [String]) {
            raw("[")
            for (i, s) in items.enumerated() {
                if i > 0 { raw(",") }
                str(s)
            }
            raw("]")
        }
        raw("{\"inputs\":")
        list(inputs)
        raw(",\"droppedRows\":\(m.droppedRows)")
        raw(",\"sessions\":[")
        for (i, s) in m.sessions.enumerated() {
            if i > 0 { raw(",\n") }
            let start = s.start.microseconds
            raw("{\"id\":")
            str(s.id)
            raw(",\"client\":")
            str(s.client)
            raw(",\"server\":")
            str(s.server)
            raw(",\"source\":")
            str(s.source)
            raw(",\"transport\":")
            str(s.transport)
            raw(",\"start\":")
            str(s.start.rfc3339)
            raw(",\"dur\":\(s.end.microseconds - start),\"up\":\(s.bytesFromClient),\"down\":\(s.bytesFromServer)")
            raw(",\"errors\":\(s.errors),\"lints\":\(s.lints),\"lanes\":\(s.lanes),\"firstRow\":\(s.firstRow)")
            raw(",\"reason\":")
            str(s.endReason ?? "")
            raw(",\"selected\":")
            str(s.selected ?? "")
            raw(",\"mailbox\":[")
            for (j, kv) in s.mailbox.enumerated() {
                if j > 0 { raw(",") }
                list([kv.0, kv.1])
            }
            raw("],\"caps\":[")
            for (j, c) in s.capabilityChanges.enumerated() {
                if j > 0 { raw(",") }
                raw("[\(c.time.microseconds - start),\(c.row),")
                list(c.added)
                raw(",")
                list(c.removed)
                raw(",\(c.capabilities.count)]")
            }
            raw("],\"marks\":[")
            for (j, k) in s.marks.enumerated() {
                if j > 0 { raw(",") }
                raw("[")
                str(k.kind.rawValue)
                raw(",\(k.start.microseconds - start),\(k.end.microseconds - start),\(k.row),")
                str(k.label)
                raw("]")
            }
            raw("],\"commands\":[")
            for (j, c) in s.commands.enumerated() {
                if j > 0 { raw(",") }
                let cmd = m.commands[c]
                raw("[\(c),")
                str(cmd.tag)
                raw(",")
                str(cmd.name)
                let done = cmd.completed.map { String($0.microseconds - start) } ?? "-1"
                raw(",\(cmd.sent.microseconds - start),\(done),")
                str(cmd.status ?? "")
                raw(",\(cmd.lane),\(cmd.row),\(cmd.completionRow ?? -1),")
                num(cmd.latencyMs)
                raw("]")
                flush()
            }
            raw("]}")
            flush()
        }
        raw("],\n\"latency\":[")
        for (i, l) in m.latencyTable.enumerated() {
            if i > 0 { raw(",") }
            raw("[")
            str(l.name)
            raw(",\(l.count),\(l.completed),\(l.no),\(l.bad),")
            num(l.p50)
            raw(",")
            num(l.p95)
            raw(",")
            num(l.max)
            raw("]")
        }
        raw("],\n\"lints\":[")
        for (i, l) in m.lints.enumerated() {
            if i > 0 { raw(",") }
            raw("[\(l.session),")
            for text in [l.level, l.code, l.message] {
                str(text)
                raw(",")
            }
            raw("\(l.row)]")
            flush()
        }
        raw("],\n\"rows\":[")
        for (i, r) in m.rows.enumerated() {
            if i > 0 { raw(",\n") }
            raw("[\(r.session),\"\(r.kind.rawValue)\",\(r.command),")
            str(r.text)
            raw("]")
            flush()
        }
        raw("]}\n")
    }

    /// A JSON string that is also safe inside a script element.
    public static func writeString(_ s: String, to b: inout [UInt8]) {
        b.append(0x22)
        for u in s.utf8 {
            switch u {
            case 0x22: b.append(contentsOf: [0x5C, 0x22])
            case 0x5C: b.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: b.append(contentsOf: [0x5C, 0x6E])
            case 0x3C, 0x3E, 0x26, 0..<0x20, 0x7F:
                let hex = Array("0123456789abcdef".utf8)
                b.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, hex[Int(u >> 4)], hex[Int(u & 0xF)]])
            default: b.append(u)
            }
        }
        b.append(0x22)
    }
}

/// `imapscope report`'s sink: collects the model, writes the HTML when the input ends.
public final class ReportWriter: EventSink {
    public var readsWire: Bool { false }
    public let model: ReportModel
    private let out: ByteOutput
    private let title: String
    private let inputs: [String]

    public init(_ out: ByteOutput, title: String, inputs: [String], model: ReportModel = ReportModel()) {
        self.model = model
        self.out = out
        self.title = title
        self.inputs = inputs
    }

    public func write(_ event: Event) { model.write(event) }

    public func finish() {
        model.finish()
        ReportHTML.render(model, title: title, inputs: inputs, to: out)
    }
}
