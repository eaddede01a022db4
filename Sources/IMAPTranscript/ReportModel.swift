import IMAPCore

/// What `imapscope report` shows, built from redacted events as they pass (it is a sink like any
/// other, so it sees nothing the Redactor did not let through): sessions with their commands
/// from send to completion, latency per command name, capability changes, the selected
/// mailbox's state, lints, and the annotated transcript as `TextWriter` writes it, one row per event.
public final class ReportModel: EventSink {
    public var readsWire: Bool { false }
    public var readsDigests: Bool { false }
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

    public func write(_ event: Event) {
        if case .sessionStart(let sessionStart) = event.body {
            startSession(event, sessionStart)
        } else if open[event.session] == nil {
            // Events of a session whose start was not seen (a JSON Lines excerpt).
            startSession(event, SessionStartEvent(client: "?", server: "?", source: "?"))
        }
        guard var live = open[event.session] else { return }
        defer { if event.kind == .sessionEnd { open[event.session] = nil } else { open[event.session] = live } }
        let sessionIndex = live.index
        if event.time.microseconds - live.lastTime.microseconds >= Self.quietThreshold {
            let seconds = Decimal.format(event.time.milliseconds(since: live.lastTime) / 1000, 1)
            sessions[sessionIndex].marks.append(
                Mark(
                    kind: .quiet, start: live.lastTime, end: event.time, row: rows.count,
                    label: "no traffic for \(seconds) s")
            )
        }
        live.lastTime = max(live.lastTime, event.time)
        sessions[sessionIndex].end = max(sessions[sessionIndex].end, event.time)
        if let count = event.bytes, let dir = event.dir {
            if dir == .client { sessions[sessionIndex].bytesFromClient += Int64(count) }
            if dir == .server { sessions[sessionIndex].bytesFromServer += Int64(count) }
        }
        live.writer.write(event)
        var text = capture.take()
        if text.hasSuffix("\n") { text.removeLast() }
        let row = rows.count < rowLimit ? rows.count : -1
        var kind = Row.Kind.meta
        var group = live.inFlight.last?.command ?? -1
        switch event.body {
        case .sessionStart:
            kind = .header
            group = -1
        case .command(let command):
            kind = .command
            group = commands.count
            let name = command.fullName
            if names[name] == nil {
                names[name] = (0, 0, 0, 0)
                nameOrder.append(name)
            }
            names[name]?.count += 1
            commands.append(Command(session: sessionIndex, tag: command.tag, name: name, sent: event.time, row: row))
            sessions[sessionIndex].commands.append(group)
            live.inFlight.append((command.tag, group))
            assignLane(group, open: &live)
            if command.name == .idle { live.idleStart = (event.time, row) }
            if command.name == .select || command.name == .examine, let mailbox = command.arguments.mailbox {
                sessions[sessionIndex].selected = mailbox
            }
        case .tagged(let tagged):
            kind = tagged.status == "OK" ? .ok : (tagged.status == "NO" ? .no : .bad)
            if tagged.status != "OK" { sessions[sessionIndex].errors += 1 }
            if let index = live.inFlight.lastIndex(where: { $0.tag == tagged.tag }) {
                group = live.inFlight[index].command
                live.inFlight.remove(at: index)
                complete(group, event.time, tagged, row: row, open: &live)
            } else {
                group = -1
            }
            if let start = live.idleStart, commands.indices.contains(group), commands[group].name == "IDLE" {
                sessions[sessionIndex].marks.append(
                    Mark(kind: .idle, start: start.time, end: event.time, row: start.row, label: "IDLE"))
                live.idleStart = nil
            }
            noteCapabilities(tagged.response, time: event.time, row: row, open: &live)
        case .untagged(let untagged):
            kind = .server
            if untagged.unsolicited || live.idleStart != nil, untagged.name == "EXISTS" || untagged.name == "EXPUNGE" {
                let number = untagged.number.map { "\($0) " } ?? ""
                sessions[sessionIndex].marks.append(
                    Mark(
                        kind: untagged.name == "EXISTS" ? .exists : .expunge, start: event.time, end: event.time,
                        row: row,
                        label: "unsolicited \(number)\(untagged.name)"))
            }
            noteCapabilities(untagged.response, time: event.time, row: row, open: &live)
        case .continuation, .sasl, .idleDone:
            kind = event.dir == .client ? .command : .server
            if let tag = event.body.tag, let owner = live.inFlight.last(where: { $0.tag == tag }) {
                group = owner.command
            }
        case .lint(let lint):
            kind = .lint
            sessions[sessionIndex].lints += 1
            lints.append(
                Lint(
                    session: sessionIndex, level: lint.level.rawValue, code: lint.code, message: lint.message, row: row)
            )
        case .gap(let gap):
            kind = .damage
            sessions[sessionIndex].errors += 1
            sessions[sessionIndex].marks.append(
                Mark(kind: .gap, start: event.time, end: event.time, row: row, label: "\(gap.missing) bytes lost"))
        case .unparsed:
            kind = .damage
            sessions[sessionIndex].errors += 1
        case .tls(let tls):
            if tls.phase.hasPrefix("starttls"), sessions[sessionIndex].transport == "plaintext" {
                sessions[sessionIndex].transport = "starttls"
            }
            if tls.phase == "implicit" { sessions[sessionIndex].transport = "tls" }
        case .compress:
            break
        case .fault:
            kind = .lint
        case .sessionEnd(let end):
            kind = .header
            group = -1
            sessions[sessionIndex].endReason = end.reason
            if let mailbox = end.mailbox?.objectValue {
                sessions[sessionIndex].mailbox = mailbox.map { ($0.0, Self.plain($0.1)) }
            }
            if let start = live.idleStart {
                sessions[sessionIndex].marks.append(
                    Mark(kind: .idle, start: start.time, end: event.time, row: start.row, label: "IDLE"))
            }
        }
        if row >= 0 {
            rows.append(Row(session: sessionIndex, kind: kind, command: group, text: text))
        } else {
            droppedRows += 1
        }
    }

    public func finish() {
        for (_, live) in open.sorted(by: { $0.value.index < $1.value.index }) {
            if let start = live.idleStart {
                sessions[live.index].marks.append(
                    Mark(kind: .idle, start: start.time, end: live.lastTime, row: start.row, label: "IDLE"))
            }
        }
        open.removeAll()
    }

    /// One row per command name, in order of first use: completions and latency percentiles in ms.
    public var latencyTable: [LatencyRow] {
        nameOrder.map { name in
            let tally = names[name] ?? (0, 0, 0, 0)
            let timings = (latencies[name] ?? []).sorted()
            return LatencyRow(
                name: name, count: tally.count, completed: tally.completed, no: tally.no, bad: tally.bad,
                p50: timings.isEmpty ? nil : SummarySink.percentile(timings, 50),
                p95: timings.isEmpty ? nil : SummarySink.percentile(timings, 95), max: timings.last)
        }
    }

    private func startSession(_ event: Event, _ start: SessionStartEvent) {
        let index = sessions.count
        let transport = start.transport == "tls" ? "tls" : "plaintext"
        sessions.append(
            Session(
                id: event.session, client: start.client, server: start.server, source: start.source,
                transport: transport,
                start: event.time, end: event.time, firstRow: rows.count))
        let writer = TextWriter(capture, style: .init(color: false))
        open[event.session] = Open(index: index, writer: writer, lastTime: event.time)
    }

    private func complete(_ command: Int, _ time: Timestamp, _ tagged: TaggedEvent, row: Int, open live: inout Open) {
        commands[command].completed = time
        commands[command].status = tagged.status
        commands[command].completionRow = row
        commands[command].latencyMs = tagged.latencyMs ?? time.milliseconds(since: commands[command].sent)
        let name = commands[command].name
        names[name]?.completed += 1
        if tagged.status == "NO" { names[name]?.no += 1 }
        if tagged.status == "BAD" { names[name]?.bad += 1 }
        if let latency = tagged.latencyMs { latencies[tagged.command ?? name, default: []].append(latency) }
        if live.laneBusy.indices.contains(commands[command].lane) { live.laneBusy[commands[command].lane] = false }
    }

    /// The first lane with no command in flight (events come in time order, so a lane whose
    /// command completed is free for any later one).
    private func assignLane(_ command: Int, open live: inout Open) {
        var lane = live.laneBusy.firstIndex(of: false) ?? live.laneBusy.count
        if lane >= Self.maxLanes { lane = Self.maxLanes - 1 }
        if lane == live.laneBusy.count { live.laneBusy.append(true) } else { live.laneBusy[lane] = true }
        commands[command].lane = lane
        let sessionIndex = commands[command].session
        sessions[sessionIndex].lanes = max(sessions[sessionIndex].lanes, lane + 1)
    }

    private func noteCapabilities(_ response: ResponseFields, time: Timestamp, row: Int, open live: inout Open) {
        var caps: [String]?
        if response.code == "CAPABILITY" { caps = response.codeArguments }
        if let list = response.arguments.fields.first(where: { $0.0 == "capabilities" })?.1.arrayValue {
            caps = list.compactMap(\.stringValue)
        }
        guard let caps, caps != live.lastCapabilities else { return }
        let old = Set(live.lastCapabilities ?? [])
        let new = Set(caps)
        sessions[live.index].capabilityChanges.append(
            CapabilityChange(
                time: time, row: row, added: caps.filter { !old.contains($0) },
                removed: (live.lastCapabilities ?? []).filter { !new.contains($0) }, capabilities: caps))
        live.lastCapabilities = caps
    }

    private static func plain(_ value: JSONValue) -> String {
        if let string = value.stringValue { return string }
        return value.serialized
    }
}

/// The text a `TextWriter` wrote for the last event.
private final class CapturedText: ByteOutput {
    private var bytes: [UInt8] = []
    func write(_ more: [UInt8]) { bytes += more }
    func flush() {}
    func take() -> String {
        defer { bytes.removeAll(keepingCapacity: true) }
        return String(decoding: bytes, as: UTF8.self)
    }
}
