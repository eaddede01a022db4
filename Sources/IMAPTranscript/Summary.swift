import IMAPCore

/// `--summary`: sessions, commands by name with latency percentiles, bytes per direction,
/// lints and damage, printed after the events.
public final class SummarySink: EventSink {
    public var readsWire: Bool { false }
    public var readsDigests: Bool { false }
    private var sessions: [String] = []
    private var latencies: [String: [Double]] = [:]
    private var counts: [String: Int] = [:]
    private var statuses: [String: Int] = [:]
    private var bytes: [Direction: Int64] = [:]
    private var lints: [String: Int] = [:]
    private var unparsed = 0
    private var gaps = 0
    private var gapBytes: Int64 = 0
    private var encrypted = 0

    public init() {}

    public func write(_ event: Event) {
        if let dir = event.dir, let count = event.bytes { bytes[dir, default: 0] += Int64(count) }
        switch event.body {
        case .sessionStart(let start): sessions.append("\(event.session): \(start.client) → \(start.server)")
        case .command(let command): counts[command.fullName, default: 0] += 1
        case .tagged(let tagged):
            statuses[tagged.status, default: 0] += 1
            if let command = tagged.command, let latency = tagged.latencyMs {
                latencies[command, default: []].append(latency)
            }
        case .lint(let lint): lints[lint.code, default: 0] += 1
        case .unparsed: unparsed += 1
        case .gap(let gap):
            gaps += 1
            gapBytes += Int64(gap.missing)
        case .tls: encrypted += 1
        default: break
        }
    }

    public func finish() {}

    /// Adds what another summary saw (`read --jobs`: one summary per file, merged in file order).
    public func merge(_ other: SummarySink) {
        sessions += other.sessions
        for (k, v) in other.latencies { latencies[k, default: []] += v }
        for (k, v) in other.counts { counts[k, default: 0] += v }
        for (k, v) in other.statuses { statuses[k, default: 0] += v }
        for (k, v) in other.bytes { bytes[k, default: 0] += v }
        for (k, v) in other.lints { lints[k, default: 0] += v }
        unparsed += other.unparsed
        gaps += other.gaps
        gapBytes += other.gapBytes
        encrypted += other.encrypted
    }

    static func percentile(_ sorted: [Double], _ percent: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let rank = Int((percent / 100 * Double(sorted.count)).rounded(.up)) - 1
        return sorted[max(0, min(sorted.count - 1, rank))]
    }

    public func report() -> String {
        var out = "\n── summary\n"
        out += "sessions: \(sessions.count)" + (encrypted > 0 ? " (\(encrypted) encrypted)" : "") + "\n"
        for session in sessions.prefix(20) { out += "  \(terminalSafe(session))\n" }
        if sessions.count > 20 { out += "  … and \(sessions.count - 20) more\n" }
        out += "bytes: client \(bytes[.client] ?? 0), server \(bytes[.server] ?? 0)\n"
        out +=
            "completions: "
            + statuses.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") + "\n"
        out += "commands:\n"
        out +=
            "  " + "name".padding(18) + "count".leftPad(7) + "p50 ms".leftPad(10) + "p95 ms".leftPad(10)
            + "max ms".leftPad(10) + "\n"
        for (name, count) in counts.sorted(by: { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }) {
            let timings = (latencies[name] ?? []).sorted()
            let cols =
                timings.last.map { slowest in
                    [Self.percentile(timings, 50), Self.percentile(timings, 95), slowest].map { Decimal.format($0, 2) }
                } ?? ["-", "-", "-"]
            out +=
                "  " + terminalSafe(name).padding(18) + String(count).leftPad(7) + cols.map { $0.leftPad(10) }.joined()
                + "\n"
        }
        if !lints.isEmpty {
            out +=
                "lints: " + lints.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                + "\n"
        }
        if unparsed > 0 { out += "unparsed lines: \(unparsed)\n" }
        if gaps > 0 { out += "capture gaps: \(gaps) (\(gapBytes) bytes lost)\n" }
        return out
    }
}

extension String {
    func padding(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
    func leftPad(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}
