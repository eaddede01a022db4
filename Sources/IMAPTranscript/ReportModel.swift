import IMAPCore

/// What `imapscope report` shows, built from redacted events as they pass (it is a sink like any
/// other, so it sees nothing the Redactor did not let through): sessions with their commands
/// from send to completion, latency per command name, capability changes, the selected
/// mailbox's state, lints, and the annotated transcript as `TextWriter` writes it, one row per event.
public final class ReportModel: EventSink {
    public var readsWire: Bool { false }
    /// One transcript row: the text `TextWriter` wrote for one event.
    public struct Row: Sendable, Equatable {
        public enum Kind: String, Sendable {
            case header = "h"
            case command = "c"
            case server = "s"
            case ok = "o"
            case no = "n"
            case bad = "b"
            case lint = "l"
            case damage = "e"
            case meta = "m"
        }
        /// Index into `sessions`.
        public var session: Int
        public var kind: Kind
        /// Index into `commands` of the command the row belongs to (its command line, responses
        /// while it was the one in flight, its completion), or -1.
        public var command: Int
        public var text: String
    }

    public struct Command: Sendable, Equatable {
        public var session: Int
        public var tag: String
        /// `UID FETCH` or `FETCH`.
        public var name: String
        public var sent: Timestamp
        public var completed: Timestamp?
        /// `OK`, `NO`, `BAD`, or nil when no completion was seen.
        public var status: String?
        public var latencyMs: Double?
        /// The transcript rows of the command line and of its completion.
        public var row: Int
        public var completionRow: Int?
        /// The stacking lane in the session's timeline: commands in flight at once get different lanes.
        public var lane = 0
    }

    public struct Mark: Sendable, Equatable {
        public enum Kind: String, Sendable {
            case exists, expunge
            /// Bytes the capture lost.
            case gap
            /// No event for at least `ReportModel.quietThreshold`.
            case quiet
            case idle
        }
        public var kind: Kind
        public var start: Timestamp
        public var end: Timestamp
        public var row: Int
        public var label: String
    }

    public struct CapabilityChange: Sendable, Equatable {
        public var time: Timestamp
        public var row: Int
        public var added: [String]
        public var removed: [String]
        /// The whole set after the change.
        public var capabilities: [String]
    }

    public struct Lint: Sendable, Equatable {
        public var session: Int
        public var level: String
        public var code: String
        public var message: String
        public var row: Int
    }

    public struct Session: Sendable {
        public var id: String
        public var client: String
        public var server: String
        public var source: String
        /// `tls`, `starttls` or `plaintext`.
        public var transport: String
        public var start: Timestamp
        public var end: Timestamp
        public var bytesFromClient: Int64 = 0
        public var bytesFromServer: Int64 = 0
        /// Tagged NO and BAD completions, unparsed lines and capture gaps.
        public var errors = 0
        public var lints = 0
        /// Indexes into `commands`.
        public var commands: [Int] = []
        public var marks: [Mark] = []
        public var capabilityChanges: [CapabilityChange] = []
        /// The last SELECT or EXAMINE's mailbox name, and the state at the end (`MailboxState.json`).
        public var selected: String?
        public var mailbox: [(String, String)] = []
        public var endReason: String?
        public var firstRow: Int
        public var lanes = 1
    }

    public struct LatencyRow: Sendable, Equatable {
        public var name: String
        public var count: Int
        public var completed: Int
        public var no: Int
        public var bad: Int
        public var p50: Double?
        public var p95: Double?
        public var max: Double?
    }

    /// A stretch without any event at least this long is marked in the timeline.
    public static let quietThreshold: Int64 = 1_000_000
    /// More commands in flight at once than this share the last lane.
    public static let maxLanes = 12

    public private(set) var sessions: [Session] = []
    public private(set) var commands: [Command] = []
    public private(set) var rows: [Row] = []
    public private(set) var lints: [Lint] = []
    /// Transcript rows past `rowLimit`, not kept (a proxy's report grows with every session until it stops).
    public private(set) var droppedRows = 0
    /// The most transcript rows kept (about 100 bytes each); commands, marks and lints past it
    /// are still counted, and point at no row (-1).
    public let rowLimit: Int

    /// Per open session: its index, its text writer, the commands in flight by tag (in send order).
    private struct Open {
        var index: Int
        var writer: TextWriter
        var inFlight: [(tag: String, command: Int)] = []
        var idleStart: (time: Timestamp, row: Int)?
        var lastTime: Timestamp
        var laneBusy: [Bool] = []
        var lastCapabilities: [String]?
    }
    private var open: [String: Open] = [:]
    private let capture = CapturedText()
    private var latencies: [String: [Double]] = [:]
    private var names: [String: (count: Int, completed: Int, no: Int, bad: Int)] = [:]
    private var nameOrder: [String] = []

    public init(rowLimit: Int = 2_000_000) { self.rowLimit = rowLimit }

    public func write(_ e: Event) {
        if case .sessionStart(let s) = e.body {
            startSession(e, s)
        } else if open[e.session] == nil {
            // Events of a session whose start was not seen (a JSON Lines excerpt).
            startSession(e, SessionStartEvent(client: "?", server: "?", source: "?"))
        }
        guard var o = open[e.session] else { return }
        defer { if e.kind == .sessionEnd { open[e.session] = nil } else { open[e.session] = o } }
        let s = o.index
        if e.time.microseconds - o.lastTime.microseconds >= Self.quietThreshold {
            let seconds = Decimal.format(e.time.milliseconds(since: o.lastTime) / 1000, 1)
            sessions[s].marks.append(
                Mark(
                    kind: .quiet, start: o.lastTime, end: e.time, row: rows.count, label: "no traffic for \(seconds) s")
            )
        }
        o.lastTime = max(o.lastTime, e.time)
        sessions[s].end = max(sessions[s].end, e.time)
        if let b = e.bytes, let d = e.dir {
            if d == .client { sessions[s].bytesFromClient += Int64(b) }
            if d == .server { sessions[s].bytesFromServer += Int64(b) }
        }
        o.writer.write(e)
        var text = capture.take()
        if text.hasSuffix("\n") { text.removeLast() }
        let row = rows.count < rowLimit ? rows.count : -1
        var kind = Row.Kind.meta
        var group = o.inFlight.last?.command ?? -1
        switch e.body {
        case .sessionStart:
            kind = .header
            group = -1
        case .command(let c):
            kind = .command
            group = commands.count
            let name = c.fullName
            if names[name] == nil {
                names[name] = (0, 0, 0, 0)
                nameOrder.append(name)
            }
            names[name]?.count += 1
            commands.append(Command(session: s, tag: c.tag, name: name, sent: e.time, row: row))
            sessions[s].commands.append(group)
            o.inFlight.append((c.tag, group))
            assignLane(group, open: &o)
            if c.name == .idle { o.idleStart = (e.time, row) }
            if c.name == .select || c.name == .examine, let m = c.arguments.mailbox { sessions[s].selected = m }
        case .tagged(let t):
            kind = t.status == "OK" ? .ok : (t.status == "NO" ? .no : .bad)
            if t.status != "OK" { sessions[s].errors += 1 }
            if let i = o.inFlight.lastIndex(where: { $0.tag == t.tag }) {
                group = o.inFlight[i].command
                o.inFlight.remove(at: i)
                complete(group, e.time, t, row: row, open: &o)
            } else {
                group = -1
            }
            if let start = o.idleStart, commands.indices.contains(group), commands[group].name == "IDLE" {
                sessions[s].marks.append(
                    Mark(kind: .idle, start: start.time, end: e.time, row: start.row, label: "IDLE"))
                o.idleStart = nil
            }
            noteCapabilities(t.response, time: e.time, row: row, open: &o)
        case .untagged(let u):
            kind = .server
            if u.unsolicited || o.idleStart != nil, u.name == "EXISTS" || u.name == "EXPUNGE" {
                let n = u.number.map { "\($0) " } ?? ""
                sessions[s].marks.append(
                    Mark(
                        kind: u.name == "EXISTS" ? .exists : .expunge, start: e.time, end: e.time, row: row,
                        label: "unsolicited \(n)\(u.name)"))
            }
            noteCapabilities(u.response, time: e.time, row: row, open: &o)
        case .continuation, .sasl, .idleDone:
            kind = e.dir == .client ? .command : .server
            if let tag = e.body.tag, let f = o.inFlight.last(where: { $0.tag == tag }) { group = f.command }
        case .lint(let l):
            kind = .lint
            sessions[s].lints += 1
            lints.append(Lint(session: s, level: l.level.rawValue, code: l.code, message: l.message, row: row))
        case .gap(let g):
            kind = .damage
            sessions[s].errors += 1
            sessions[s].marks.append(
                Mark(kind: .gap, start: e.time, end: e.time, row: row, label: "\(g.missing) bytes lost"))
        case .unparsed:
            kind = .damage
            sessions[s].errors += 1
        case .tls(let t):
            if t.phase.hasPrefix("starttls"), sessions[s].transport == "plaintext" {
                sessions[s].transport = "starttls"
            }
            if t.phase == "implicit" { sessions[s].transport = "tls" }
        case .compress:
            break
        case .fault:
            kind = .lint
        case .sessionEnd(let end):
            kind = .header
            group = -1
            sessions[s].endReason = end.reason
            if let m = end.mailbox?.objectValue {
                sessions[s].mailbox = m.map { ($0.0, Self.plain($0.1)) }
            }
            if let start = o.idleStart {
                sessions[s].marks.append(
                    Mark(kind: .idle, start: start.time, end: e.time, row: start.row, label: "IDLE"))
            }
        }
        if row >= 0 { rows.append(Row(session: s, kind: kind, command: group, text: text)) } else { droppedRows += 1 }
    }

    public func finish() {
        for (_, o) in open.sorted(by: { $0.value.index < $1.value.index }) {
            if let start = o.idleStart {
                sessions[o.index].marks.append(
                    Mark(kind: .idle, start: start.time, end: o.lastTime, row: start.row, label: "IDLE"))
            }
        }
        open.removeAll()
    }

    /// One row per command name, in order of first use: completions and latency percentiles in ms.
    public var latencyTable: [LatencyRow] {
        nameOrder.map { name in
            let n = names[name] ?? (0, 0, 0, 0)
            let l = (latencies[name] ?? []).sorted()
            return LatencyRow(
                name: name, count: n.count, completed: n.completed, no: n.no, bad: n.bad,
                p50: l.isEmpty ? nil : SummarySink.percentile(l, 50),
                p95: l.isEmpty ? nil : SummarySink.percentile(l, 95), max: l.last)
        }
    }

    private func startSession(_ e: Event, _ s: SessionStartEvent) {
        let index = sessions.count
        let transport = s.transport == "tls" ? "tls" : "plaintext"
        sessions.append(
            Session(
                id: e.session, client: s.client, server: s.server, source: s.source, transport: transport,
                start: e.time, end: e.time, firstRow: rows.count))
        let writer = TextWriter(capture, style: .init(color: false))
        open[e.session] = Open(index: index, writer: writer, lastTime: e.time)
    }

    private func complete(_ c: Int, _ time: Timestamp, _ t: TaggedEvent, row: Int, open o: inout Open) {
        commands[c].completed = time
        commands[c].status = t.status
        commands[c].completionRow = row
        commands[c].latencyMs = t.latencyMs ?? time.milliseconds(since: commands[c].sent)
        let name = commands[c].name
        names[name]?.completed += 1
        if t.status == "NO" { names[name]?.no += 1 }
        if t.status == "BAD" { names[name]?.bad += 1 }
        if let l = t.latencyMs { latencies[t.command ?? name, default: []].append(l) }
        if o.laneBusy.indices.contains(commands[c].lane) { o.laneBusy[commands[c].lane] = false }
    }

    /// The first lane with no command in flight (events come in time order, so a lane whose
    /// command completed is free for any later one).
    private func assignLane(_ c: Int, open o: inout Open) {
        var lane = o.laneBusy.firstIndex(of: false) ?? o.laneBusy.count
        if lane >= Self.maxLanes { lane = Self.maxLanes - 1 }
        if lane == o.laneBusy.count { o.laneBusy.append(true) } else { o.laneBusy[lane] = true }
        commands[c].lane = lane
        let s = commands[c].session
        sessions[s].lanes = max(sessions[s].lanes, lane + 1)
    }

    private func noteCapabilities(_ r: ResponseFields, time: Timestamp, row: Int, open o: inout Open) {
        var caps: [String]?
        if r.code == "CAPABILITY" { caps = r.codeArguments }
        if let list = r.arguments.fields.first(where: { $0.0 == "capabilities" })?.1.arrayValue {
            caps = list.compactMap(\.stringValue)
        }
        guard let caps, caps != o.lastCapabilities else { return }
        let old = Set(o.lastCapabilities ?? [])
        let new = Set(caps)
        sessions[o.index].capabilityChanges.append(
            CapabilityChange(
                time: time, row: row, added: caps.filter { !old.contains($0) },
                removed: (o.lastCapabilities ?? []).filter { !new.contains($0) }, capabilities: caps))
        o.lastCapabilities = caps
    }

    private static func plain(_ v: JSONValue) -> String {
        if let s = v.stringValue { return s }
        return v.serialized
    }
}

/// The text a `TextWriter` wrote for the last event.
private final class CapturedText: ByteOutput {
    private var bytes: [UInt8] = []
    func write(_ b: [UInt8]) { bytes += b }
    func flush() {}
    func take() -> String {
        defer { bytes.removeAll(keepingCapacity: true) }
        return String(decoding: bytes, as: UTF8.self)
    }
}
