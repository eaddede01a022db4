import IMAPCore
import CLibFuzzer
import IMAPTranscript

/// Reads a fuzzer's input front to back; past the end it yields zeros and empty slices, so a
/// target never has to check lengths.
public struct FuzzInput {
    private let bytes: [UInt8]
    private var offset = 0

    public init(_ start: UnsafePointer<UInt8>?, _ count: Int) {
        bytes = start.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? []
    }

    public var isAtEnd: Bool { offset >= bytes.count }
    public var rest: [UInt8] { offset < bytes.count ? Array(bytes[offset...]) : [] }

    public mutating func byte() -> UInt8 {
        guard offset < bytes.count else { return 0 }
        defer { offset += 1 }
        return bytes[offset]
    }

    public mutating func uint16() -> Int { Int(byte()) << 8 | Int(byte()) }

    public mutating func take(_ n: Int) -> [UInt8] {
        let end = min(bytes.count, offset + max(0, n))
        defer { offset = end }
        return offset < end ? Array(bytes[offset..<end]) : []
    }
}

/// Every sink a decoded event can reach: text, JSON Lines, fixtures (plain and normalized),
/// the summary, diff's lines and the HTML report. The JSON Lines output must read back to as many
/// events; the report must have a transcript row per event and no script element but its own two.
public final class AllSinks {
    private let jsonl = MemoryOutput()
    private let collected = CollectingSink()
    private let html = MemoryOutput()
    private let report: ReportWriter
    public let pipeline: EventPipeline

    public init(showSecrets: Bool) {
        let summary = SummarySink()
        let report = ReportWriter(html, title: "fuzz", inputs: ["fuzz"])
        pipeline = EventPipeline(
            redactor: Redactor(showSecrets: showSecrets, key: Array(repeating: 1, count: 32)),
            sinks: [
                JSONLinesWriter(jsonl), TextWriter(MemoryOutput(), style: .init(color: true)),
                FixtureWriter(MemoryOutput()), FixtureWriter(MemoryOutput(), normalize: true), summary, collected,
                report,
            ])
        self.summary = summary
        self.report = report
    }

    private let summary: SummarySink

    public func publish(_ events: [DecodedEvent], session: String) { pipeline.publish(events, session: session) }

    public func finish() {
        pipeline.finish()
        _ = summary.report()
        _ = ConversationDiff.lines(collected.events)
        let read: [Event]
        do { read = try JSONLinesReader.read(jsonl.bytes) } catch {
            fatalError("our own JSON Lines output does not read back: \(error)")
        }
        if read.count != collected.events.count {
            fatalError("JSON Lines read back \(read.count) events of \(collected.events.count)")
        }
        if report.model.rows.count != collected.events.count {
            fatalError("the report has \(report.model.rows.count) rows for \(collected.events.count) events")
        }
        let page = html.text
        if page.components(separatedBy: "<script").count != 3 || page.components(separatedBy: "</script").count != 3 {
            fatalError("wire text opened or closed a script element in the report")
        }
    }
}

/// Sums each direction's `bytes` (and the session end's encrypted counts): every byte fed to a
/// decoder must be accounted for by exactly one event.
public struct ByteAccount {
    public private(set) var fed: [Direction: Int64] = [:]
    public private(set) var seen: [Direction: Int64] = [:]
    public private(set) var inflated = false
    public private(set) var hadGap = false

    public init() {}

    public mutating func fed(_ dir: Direction, _ n: Int) { fed[dir, default: 0] += Int64(n) }
    public mutating func lost(_ dir: Direction) { hadGap = true }

    public mutating func saw(_ events: [DecodedEvent]) {
        for e in events {
            if e.kind == .compress { inflated = true }
            if let d = e.dir { seen[d, default: 0] += Int64(e.bytes) }
            if case .sessionEnd(let end) = e.body {
                for (d, n) in end.encryptedBytes ?? [] { seen[d, default: 0] += Int64(n) }
            }
        }
    }

    /// After COMPRESS the events count inflated bytes, so the sums no longer compare. Gaps are
    /// checked too (the first fuzz run found bytes skipped after a second gap going uncounted;
    /// Fuzz/Regressions/FuzzSession holds that input).
    public func check() {
        guard !inflated else { return }
        let f = fed.filter { $0.value != 0 }, s = seen.filter { $0.value != 0 }
        if f != s { fatalError("events account for \(s) bytes, the input was \(f)") }
    }
}

/// Hands the process to libFuzzer. SwiftPM links every executable with a main it names after the
/// module (`FuzzSession_main`, …), so each target defines that symbol and calls this.
public func runFuzzer(
    _ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv, callback)
}
