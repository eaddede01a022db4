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
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// The JSON block: `<`, `>` and `&` only ever occur inside its strings, written as `\u003c`
    /// and so on, so no text can close the script element or open another.
    static func writeData(_ model: ReportModel, inputs: [String], to buffer: inout [UInt8], flushingTo out: ByteOutput)
    {
        func flush() {
            if buffer.count >= 1 << 16 {
                out.write(buffer)
                buffer.removeAll(keepingCapacity: true)
            }
        }
        func raw(_ text: String) { buffer.append(contentsOf: text.utf8) }
        func str(_ text: String) { writeString(text, to: &buffer) }
        func num(_ value: Double?) { raw(value.map { Decimal.format($0, 3) } ?? "null") }
        func list(_ items: [String]) {
            raw("[")
            for (i, item) in items.enumerated() {
                if i > 0 { raw(",") }
                str(item)
            }
            raw("]")
        }
        raw("{\"inputs\":")
        list(inputs)
        raw(",\"droppedRows\":\(model.droppedRows)")
        raw(",\"sessions\":[")
        for (i, session) in model.sessions.enumerated() {
            if i > 0 { raw(",\n") }
            let start = session.start.microseconds
            raw("{\"id\":")
            str(session.id)
            raw(",\"client\":")
            str(session.client)
            raw(",\"server\":")
            str(session.server)
            raw(",\"source\":")
            str(session.source)
            raw(",\"transport\":")
            str(session.transport)
            raw(",\"start\":")
            str(session.start.rfc3339)
            raw(
                ",\"dur\":\(session.end.microseconds - start),\"up\":\(session.bytesFromClient),\"down\":\(session.bytesFromServer)"
            )
            raw(
                ",\"errors\":\(session.errors),\"lints\":\(session.lints),\"lanes\":\(session.lanes),\"firstRow\":\(session.firstRow)"
            )
            raw(",\"reason\":")
            str(session.endReason ?? "")
            raw(",\"selected\":")
            str(session.selected ?? "")
            raw(",\"mailbox\":[")
            for (j, kv) in session.mailbox.enumerated() {
                if j > 0 { raw(",") }
                list([kv.0, kv.1])
            }
            raw("],\"caps\":[")
            for (j, change) in session.capabilityChanges.enumerated() {
                if j > 0 { raw(",") }
                raw("[\(change.time.microseconds - start),\(change.row),")
                list(change.added)
                raw(",")
                list(change.removed)
                raw(",\(change.capabilities.count)]")
            }
            raw("],\"marks\":[")
            for (j, mark) in session.marks.enumerated() {
                if j > 0 { raw(",") }
                raw("[")
                str(mark.kind.rawValue)
                raw(",\(mark.start.microseconds - start),\(mark.end.microseconds - start),\(mark.row),")
                str(mark.label)
                raw("]")
            }
            raw("],\"commands\":[")
            for (j, commandIndex) in session.commands.enumerated() {
                if j > 0 { raw(",") }
                let cmd = model.commands[commandIndex]
                raw("[\(commandIndex),")
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
        for (i, latency) in model.latencyTable.enumerated() {
            if i > 0 { raw(",") }
            raw("[")
            str(latency.name)
            raw(",\(latency.count),\(latency.completed),\(latency.no),\(latency.bad),")
            num(latency.p50)
            raw(",")
            num(latency.p95)
            raw(",")
            num(latency.max)
            raw("]")
        }
        raw("],\n\"lints\":[")
        for (i, lint) in model.lints.enumerated() {
            if i > 0 { raw(",") }
            raw("[\(lint.session),")
            for text in [lint.level, lint.code, lint.message] {
                str(text)
                raw(",")
            }
            raw("\(lint.row)]")
            flush()
        }
        raw("],\n\"rows\":[")
        for (i, row) in model.rows.enumerated() {
            if i > 0 { raw(",\n") }
            raw("[\(row.session),\"\(row.kind.rawValue)\",\(row.command),")
            str(row.text)
            raw("]")
            flush()
        }
        raw("]}\n")
    }

    /// A JSON string that is also safe inside a script element.
    public static func writeString(_ text: String, to buffer: inout [UInt8]) {
        buffer.append(0x22)
        for byte in text.utf8 {
            switch byte {
            case 0x22: buffer.append(contentsOf: [0x5C, 0x22])
            case 0x5C: buffer.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: buffer.append(contentsOf: [0x5C, 0x6E])
            case 0x3C, 0x3E, 0x26, 0..<0x20, 0x7F:
                let hex = Array("0123456789abcdef".utf8)
                buffer.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            default: buffer.append(byte)
            }
        }
        buffer.append(0x22)
    }
}

/// `imapscope report`'s sink: collects the model, writes the HTML when the input ends.
public final class ReportWriter: EventSink {
    public var readsWire: Bool { false }
    public var readsDigests: Bool { false }
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
