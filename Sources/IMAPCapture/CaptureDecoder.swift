import IMAPCore

/// Turns captured frames into IMAP sessions: a flow table keyed by the endpoint pair, TCP
/// reassembly per direction, and one `SessionDecoder` per connection. Packets are processed in
/// capture order, so both directions come out merged by time.
public final class CaptureDecoder {
    public struct Options: Sendable {
        /// Plaintext IMAP ports; streams elsewhere are recognised by their content.
        public var imapPorts: Set<UInt16> = [143]
        /// Implicit-TLS ports: the session is reported, its bytes counted, nothing decoded.
        public var tlsPorts: Set<UInt16> = [993]
        public var decoder = DecoderOptions()
        /// Out-of-order bytes held per direction before a hole is declared a gap.
        public var maxPendingPerDirection = 1 << 20
        /// Out-of-order bytes held across all flows: past it, the direction that adds more has
        /// its holes declared gaps at once (the flow cap times the per-direction bound is 20 GiB).
        public var maxPendingTotal = 64 << 20
        /// A flow with no packet for this long (capture time) is evicted. IMAP servers log out idle
        /// clients after no less than 30 minutes (RFC 9051 §5.4) and IDLE clients re-issue IDLE
        /// every 29 (RFC 2177), so a live session is not silent for longer.
        public var flowIdleSeconds: Int64 = 1800
        /// Flows tracked at once; beyond it the least recently active flow is evicted.
        public var maxFlows = 10_000
        /// A key log's secrets by client random: TLS sessions (implicit, or after STARTTLS) whose
        /// secrets it has are decrypted and decoded. Nil: TLS is reported and counted only.
        public var tlsKeys: (@Sendable ([UInt8]) -> TLSSessionSecrets?)?
        /// Honour imapscope's mark on a SYN (`SyntheticTCPConnection.decryptedTLSOption`): the
        /// connection was TLS, written decrypted (set for files the proxy wrote).
        public var trustsDecryptedTLSMarks = false
        public init() {}
    }

    public let options: Options
    /// What the reader should tell the user once (unsupported frames and the like).
    public private(set) var warnings: [String] = []
    public private(set) var sessionsStarted = 0
    private var flowsCreated = 0
    /// Connections being tracked right now (memory grows with these, not with the capture).
    public var trackedFlows: Int { flows.count }

    private let emit: (String, [DecodedEvent]) -> Void
    private var flows: [FlowKey: Flow] = [:]
    /// Every flow in `flows`, least recently active first: touching a flow and finding the one to
    /// evict are O(1), so eviction never scans the table.
    private var activity = ActivityList()
    private var evictedIdle = 0
    private var evictedOverCap = 0
    /// Out-of-order bytes held by every reassembler, and how often that reached its bound.
    private var pendingTotal = 0
    private var pendingOverBudget = 0
    /// Connections that ended, by when: their late ACKs and retransmitted FINs are dropped
    /// instead of starting sessions. Only the key is kept, so memory stays flat over millions of
    /// short connections; entries older than two minutes of capture time are purged.
    private var closed: [FlowKey: Timestamp] = [:]
    private var packetsSincePurge = 0
    private var warned: Set<String> = []
    /// Damaged or unsupported frames by reason: the first packet and how many (reported at the
    /// end, one line per reason, so a capture of a million bad frames does not grow the warnings).
    private var damage: [String: (first: Int, count: Int)] = [:]
    private var damageOrder: [String] = []
    private var lastTime = Timestamp.zero

    struct FlowKey: Hashable {
        var lower: Endpoint, higher: Endpoint
        init(_ first: Endpoint, _ second: Endpoint) {
            if first < second {
                lower = first
                higher = second
            } else {
                lower = second
                higher = first
            }
        }
    }

    enum Kind { case undecided, imap, imaps, ignored }

    final class Flow {
        let key: FlowKey
        /// Neighbours in `activity` (older and newer); nil at the ends and once the flow is removed.
        var older: Flow?
        var newer: Flow?
        var client: Endpoint?
        var kind = Kind.undecided
        var session = ""
        var decoder: SessionDecoder?
        var streams: [Endpoint: StreamReassembler] = [:]
        var synSeq: [Endpoint: UInt32] = [:]
        var closed = false
        var resetBy: Endpoint?
        var firstTime = Timestamp.zero
        var lastTime = Timestamp.zero
        /// Reassembled bytes held while a flow on an unknown port is classified.
        var early: [(Endpoint, [UInt8], Timestamp)] = []
        /// Decrypts the flow's TLS with the key log (implicit TLS, or after STARTTLS).
        var tls: TLSConnectionDecryptor?
        var tlsPhase = "implicit"
        /// Marked by the proxy that wrote the file as TLS it decrypted: reported as TLS, no cleartext.
        var decryptedTLS = false
        /// Creation order: flows that started in the same microsecond end in the order they began.
        let ordinal: Int
        init(key: FlowKey, ordinal: Int) {
            self.key = key
            self.ordinal = ordinal
        }
    }

    /// A doubly linked list of flows ordered by last activity, oldest first.
    struct ActivityList {
        private(set) var oldest: Flow?
        private var newest: Flow?

        mutating func remove(_ flow: Flow) {
            if let older = flow.older { older.newer = flow.newer } else if oldest === flow { oldest = flow.newer }
            if let newer = flow.newer { newer.older = flow.older } else if newest === flow { newest = flow.older }
            flow.older = nil
            flow.newer = nil
        }

        /// Makes `f` the most recently active flow.
        mutating func touch(_ flow: Flow) {
            guard newest !== flow else { return }
            remove(flow)
            flow.older = newest
            newest?.newer = flow
            newest = flow
            if oldest == nil { oldest = flow }
        }
    }

    enum Eviction { case idle, overCap }

    public init(options: Options = Options(), emit: @escaping (String, [DecodedEvent]) -> Void) {
        self.options = options
        self.emit = emit
    }

    deinit {
        // The activity list links flows both ways; unlink them when finish() was not called.
        for flow in flows.values { activity.remove(flow) }
    }

    private func warn(_ warning: String) {
        if warned.insert(warning).inserted { warnings.append(warning) }
    }

    private func damaged(_ packet: Int, _ why: String) {
        if let seen = damage[why] {
            damage[why] = (seen.first, seen.count + 1)
            return
        }
        damage[why] = (packet, 1)
        damageOrder.append(why)
    }

    public func process(_ packet: CapturedPacket, linkType: Int32) {
        lastTime = packet.time
        let seg: TCPSegment
        do {
            seg = try FrameDecoder.segment(linkType: linkType, frame: packet.data, wireLength: packet.wireLength)
        } catch {
            if case .unsupported(let why) = error { damaged(packet.number, why) }
            return
        }
        let key = FlowKey(seg.source, seg.destination)
        purgeClosed(now: packet.time)
        evictIdle(now: packet.time)
        if flows[key] == nil, closed[key] != nil {
            guard seg.syn && !seg.ackFlag else { return }
            closed[key] = nil
        }
        var found = flows[key]
        // A new SYN on a pair whose connection ended (or with a different ISN) is a new session.
        if let existing = found, seg.syn, !seg.ackFlag,
            existing.closed || (existing.synSeq[seg.source].map { $0 != seg.seq } ?? (existing.decoder != nil))
        {
            end(
                existing, reason: existing.closed ? "closed" : "a new connection reused the same addresses and ports",
                time: packet.time)
            forget(existing)
            found = nil
        }
        if found == nil {
            if flows.count >= max(1, options.maxFlows), let oldest = activity.oldest {
                evict(oldest, .overCap, time: packet.time)
            }
            flowsCreated += 1
            let created = Flow(key: key, ordinal: flowsCreated)
            created.firstTime = packet.time
            flows[key] = created
            found = created
        }
        guard let flow = found else { return }
        flow.lastTime = packet.time
        activity.touch(flow)
        if flow.kind == .ignored {
            // Not IMAP: only remember it until it closes.
            if seg.fin || seg.rst {
                forget(flow)
                closed[key] = packet.time
            }
            return
        }
        if flow.client == nil { flow.client = orient(seg) }
        if seg.syn { flow.synSeq[seg.source] = seg.seq }
        if seg.markedAsDecryptedTLS, options.trustsDecryptedTLSMarks { flow.decryptedTLS = true }
        if flow.kind == .undecided, let client = flow.client {
            let server = client == seg.source ? seg.destination : seg.source
            if options.tlsPorts.contains(server.port) {
                start(flow, key: key, kind: .imaps, time: packet.time)
            } else if options.imapPorts.contains(server.port) {
                start(flow, key: key, kind: .imap, time: packet.time)
            }
        }
        // The ACK tells what the other direction really sent.
        let peer = seg.destination
        if seg.ackFlag, let out = reassemble(flow, peer, { $0.acknowledge(seg.ack) }) {
            deliver(out, from: peer, flow: flow, key: key, time: packet.time)
        }
        if flow.streams[seg.source] == nil {
            flow.streams[seg.source] = StreamReassembler(maxPending: options.maxPendingPerDirection)
        }
        var out =
            reassemble(flow, seg.source) {
                $0.accept(seq: seg.seq, syn: seg.syn, fin: seg.fin, payload: seg.payload, missing: seg.missing)
            } ?? []
        if pendingTotal > options.maxPendingTotal, (flow.streams[seg.source]?.heldBytes ?? 0) > 0 {
            pendingOverBudget += 1
            out += reassemble(flow, seg.source) { $0.releaseHeld() } ?? []
        }
        deliver(out, from: seg.source, flow: flow, key: key, time: packet.time)
        if seg.rst { flow.resetBy = seg.source }
        let bothFinished = flow.streams.count == 2 && flow.streams.values.allSatisfy(\.finished)
        if seg.rst || bothFinished {
            flow.closed = true
            if flow.kind == .imap || flow.kind == .imaps {
                let who = flow.resetBy.map { $0 == flow.client ? "client" : "server" }
                end(
                    flow, reason: who.map { "connection reset by the \($0)" } ?? "connection closed by both sides",
                    time: packet.time)
                flow.decoder = nil
            }
            forget(flow)
            closed[key] = packet.time
        }
    }

    /// At the end of the capture: every open session ends, held bytes are released.
    public func finish() {
        let byStart = flows.values.sorted { ($0.firstTime, $0.ordinal) < ($1.firstTime, $1.ordinal) }
        for flow in byStart where !flow.closed || flow.decoder != nil {
            flushHeld(flow, time: flow.lastTime)
            if flow.kind == .imap || flow.kind == .imaps { end(flow, reason: "end of capture", time: flow.lastTime) }
        }
        for flow in Array(flows.values) { forget(flow) }
        for why in damageOrder {
            guard let seen = damage[why] else { continue }
            let more = seen.count > 1 ? " (and \(seen.count - 1) more packet\(seen.count == 2 ? "" : "s") like it)" : ""
            warn("packet \(seen.first): \(why)\(more)")
        }
        damage = [:]
        damageOrder = []
        if pendingOverBudget > 0 {
            let limit = options.maxPendingTotal
            let size = limit % (1 << 20) == 0 ? "\(limit >> 20) MiB" : "\(limit) bytes"
            let times = pendingOverBudget == 1 ? "once" : "\(pendingOverBudget) times"
            warn(
                "out-of-order bytes held across all flows reached \(size) \(times); "
                    + "the holes then open were declared gaps")
        }
        if evictedIdle > 0 {
            let flows = evictedIdle == 1 ? "flow" : "flows"
            warn("\(evictedIdle) idle \(flows) evicted (no packet for \(options.flowIdleSeconds) s of capture time)")
        }
        if evictedOverCap > 0 {
            let flows = evictedOverCap == 1 ? "flow" : "flows"
            let cap = "the \(options.maxFlows)-flow cap"
            warn("\(evictedOverCap) \(flows) evicted over \(cap) (the least recently active first)")
        }
    }

    /// Releases the bytes a flow's reassemblers hold (out of order, or waiting for an ACK).
    private func flushHeld(_ flow: Flow, time: Timestamp) {
        for ep in flow.streams.keys.sorted() {
            // Delivering one direction may judge the flow not IMAP and drop both streams.
            guard let out = reassemble(flow, ep, { $0.flushAll() }) else { continue }
            deliver(out, from: ep, flow: flow, key: nil, time: time)
        }
    }

    /// Runs one direction's reassembler (nil when the flow has none for it), keeping the total
    /// of held bytes in step. It is taken out of the flow meanwhile, so its buffers are not copied.
    private func reassemble(
        _ flow: Flow, _ ep: Endpoint, _ body: (inout StreamReassembler) -> [StreamReassembler.Output]
    )
        -> [StreamReassembler.Output]?
    {
        guard var stream = flow.streams.removeValue(forKey: ep) else { return nil }
        let before = stream.heldBytes
        let out = body(&stream)
        pendingTotal += stream.heldBytes - before
        flow.streams[ep] = stream
        return out
    }

    /// Drops a flow's reassemblers and what they hold.
    private func dropStreams(_ flow: Flow) {
        for stream in flow.streams.values { pendingTotal -= stream.heldBytes }
        flow.streams = [:]
    }

    /// Drops a flow from the table and the activity list.
    private func forget(_ flow: Flow) {
        dropStreams(flow)
        activity.remove(flow)
        if flows[flow.key] === flow { flows[flow.key] = nil }
    }

    /// Evicts every flow whose last packet is older than the idle horizon. Only the least
    /// recently active flows are looked at, so this costs nothing while none is due.
    private func evictIdle(now: Timestamp) {
        let horizon = options.flowIdleSeconds * 1_000_000
        while let flow = activity.oldest, now.microseconds - flow.lastTime.microseconds > horizon {
            // The session ended, as far as anyone can tell, when the horizon passed.
            evict(flow, .idle, time: Timestamp(microseconds: flow.lastTime.microseconds + horizon))
        }
    }

    /// Ends a flow that is still open: held bytes first, then its session with the reason.
    /// A later packet on the same addresses starts a new flow, decoded as a capture that begins
    /// mid-stream (client lines hidden until the server confirms where commands start).
    private func evict(_ flow: Flow, _ why: Eviction, time: Timestamp) {
        let reason: String
        switch why {
        case .idle:
            evictedIdle += 1
            reason = "evicted: idle for \(options.flowIdleSeconds) s of capture time"
        case .overCap:
            evictedOverCap += 1
            reason = "evicted: more than \(options.maxFlows) flows open"
        }
        if flow.kind != .ignored { flushHeld(flow, time: time) }
        if flow.kind == .imap || flow.kind == .imaps { end(flow, reason: reason, time: time) }
        forget(flow)
    }

    /// Not IMAP: forget its bytes, keep only the entry that says so.
    private func ignore(_ flow: Flow) {
        flow.kind = .ignored
        flow.early = []
        dropStreams(flow)
    }

    private func purgeClosed(now: Timestamp) {
        packetsSincePurge += 1
        guard packetsSincePurge >= 4096 || closed.count > 65_536 else { return }
        packetsSincePurge = 0
        let horizon = Timestamp(microseconds: now.microseconds - 120_000_000)
        closed = closed.filter { $0.value > horizon }
        if closed.count > 65_536 { closed.removeAll() }
    }

    /// Who is the client: the SYN's sender, the side talking to an IMAP port, or nil (decide by content).
    private func orient(_ segment: TCPSegment) -> Endpoint? {
        if segment.syn && !segment.ackFlag { return segment.source }
        if segment.syn && segment.ackFlag { return segment.destination }
        let ports = options.imapPorts.union(options.tlsPorts)
        if ports.contains(segment.destination.port) && !ports.contains(segment.source.port) { return segment.source }
        if ports.contains(segment.source.port) && !ports.contains(segment.destination.port) {
            return segment.destination
        }
        return nil
    }

    private func start(_ flow: Flow, key: FlowKey, kind: Kind, time: Timestamp) {
        guard let client = flow.client else { return }
        sessionsStarted += 1
        flow.session = "s\(sessionsStarted)"
        flow.kind = kind
        var opts = options.decoder
        opts.encryptedTransport = kind == .imaps || flow.decryptedTLS
        let keys = options.tlsKeys
        if keys != nil, opts.afterStartTLS == .encrypted { opts.afterStartTLS = .handOff }
        // Without the handshake the first bytes may sit inside a literal or a SASL exchange.
        opts.clientStreamFromStart = !flow.synSeq.isEmpty
        let decoder = SessionDecoder(options: opts)
        flow.decoder = decoder
        let server = key.lower == client ? key.higher : key.lower
        emit(
            flow.session,
            decoder.start(client: client.description, server: server.description, source: "pcap", time: flow.firstTime))
        if kind == .imaps {
            if let keys {
                flow.tls = TLSConnectionDecryptor(lookup: keys)
            } else {
                emit(flow.session, decoder.encryptedFromStart(time: time))
            }
        }
    }

    private func end(_ flow: Flow, reason: String, time: Timestamp) {
        guard let decoder = flow.decoder else { return }
        if let tls = flow.tls { tlsActions(tls.finish(), flow: flow, decoder: decoder, time: time) }
        emit(flow.session, decoder.finish(reason: reason, time: time))
        flow.decoder = nil
    }

    private func deliver(
        _ out: [StreamReassembler.Output], from ep: Endpoint, flow: Flow, key: FlowKey?, time: Timestamp
    ) {
        guard !out.isEmpty, flow.kind != .ignored else { return }
        if flow.kind == .undecided {
            for case .data(let bytes) in out { flow.early.append((ep, bytes, time)) }
            classify(flow, time: time)
            return
        }
        guard let decoder = flow.decoder, let client = flow.client else { return }
        let dir: Direction = ep == client ? .client : .server
        for output in out {
            if let tls = flow.tls, !tls.isOpaque {
                switch output {
                case .data(let bytes): tlsActions(tls.feed(dir, bytes), flow: flow, decoder: decoder, time: time)
                case .gap(let byteCount):
                    tlsActions(tls.gap(dir, bytes: byteCount), flow: flow, decoder: decoder, time: time)
                case .conflict(let byteCount):
                    emit(
                        flow.session,
                        decoder.sourceLint(.retransmissionDiffers(dir, bytes: byteCount), dir: dir, time: time))
                }
                continue
            }
            switch output {
            case .data(let bytes):
                emit(flow.session, decoder.feed(dir, bytes, time: time))
                if flow.tls == nil, let held = decoder.takeTLSHandOff(), let keys = options.tlsKeys {
                    // STARTTLS completed: what follows is TLS, decrypted with the key log.
                    let tls = TLSConnectionDecryptor(lookup: keys)
                    flow.tls = tls
                    flow.tlsPhase = "starttls"
                    for side in [Direction.client, .server] {
                        if let heldBytes = held[side], !heldBytes.isEmpty {
                            tlsActions(tls.feed(side, heldBytes), flow: flow, decoder: decoder, time: time)
                        }
                    }
                }
            case .gap(let byteCount):
                if byteCount > 0 { emit(flow.session, decoder.gap(dir, bytes: byteCount, time: time)) }
            case .conflict(let byteCount):
                emit(
                    flow.session,
                    decoder.sourceLint(.retransmissionDiffers(dir, bytes: byteCount), dir: dir, time: time))
            }
        }
    }

    /// Turns what the TLS decryptor found into the session's events: plaintext to decode, the
    /// `tls` event, and lints for what could not be opened.
    private func tlsActions(_ actions: [TLSDecryptorAction], flow: Flow, decoder: SessionDecoder, time: Timestamp) {
        for action in actions {
            switch action {
            case .plaintext(let dir, let bytes):
                emit(flow.session, decoder.feed(dir, bytes, time: time))
            case .decrypting(let facts):
                let note =
                    flow.tlsPhase == "starttls"
                    ? "STARTTLS accepted; decrypted with the key log" : "implicit TLS, decrypted with the key log"
                emit(flow.session, decoder.tlsDecrypted(tlsEvent(flow, facts, decrypted: true), note: note, time: time))
            case .undecryptable(let facts, let why):
                let note =
                    flow.tlsPhase == "starttls"
                    ? "STARTTLS accepted: the rest of this connection is TLS and could not be decrypted"
                    : "implicit TLS: the connection could not be decrypted"
                let bytes = flow.tls?.bytesFed ?? [:]
                emit(
                    flow.session,
                    decoder.tlsUndecryptable(
                        tlsEvent(flow, facts ?? TLSHandshakeFacts(), decrypted: false), note: note, bytesSoFar: bytes,
                        time: time))
                emit(
                    flow.session,
                    decoder.sourceLint(code: "tls-not-decrypted", message: why.message, dir: nil, time: time))
            case .decryptFailed(let dir, let seq, let bytes):
                let message =
                    "the \(dir.rawValue)'s TLS record with sequence number \(seq) (\(bytes) bytes) "
                    + "failed authentication and was skipped"
                emit(
                    flow.session, decoder.sourceLint(code: "tls-decrypt-failed", message: message, dir: dir, time: time)
                )
                emit(flow.session, decoder.gap(dir, bytes: bytes, time: time))
            case .directionLost(let dir, let reason):
                let message = "the \(dir.rawValue)'s TLS stream is no longer decrypted: \(reason)"
                emit(flow.session, decoder.sourceLint(code: "tls-stream-lost", message: message, dir: dir, time: time))
            }
        }
    }

    private func tlsEvent(_ flow: Flow, _ facts: TLSHandshakeFacts, decrypted: Bool) -> TLSEvent {
        TLSEvent(
            leg: "client", phase: flow.tlsPhase, version: facts.version, cipher: facts.cipher, sni: facts.serverName,
            versionsOffered: facts.versionsOffered, alpn: facts.alpn, decrypted: decrypted)
    }

    /// A flow on an unknown port is IMAP if its first bytes are a greeting or a tagged command.
    private func classify(_ flow: Flow, time: Timestamp) {
        guard let (ep, first, _) = flow.early.first else { return }
        if let keys = options.tlsKeys, first.first == 0x16 {
            switch Self.implicitTLS(flow.early.filter { $0.0 == ep }.flatMap { $0.1 }, keys: keys) {
            // Held bytes of both directions stay bounded while the ClientHello is incomplete.
            case .needMore where flow.early.reduce(0, { $0 + $1.1.count }) < 16_384: return
            case .needMore: break
            case .yes:
                flow.client = ep
                let server = flow.streams.keys.first { $0 != ep } ?? ep
                start(flow, key: FlowKey(ep, server), kind: .imaps, time: time)
                let held = flow.early
                flow.early = []
                for (endpoint, bytes, receivedAt) in held {
                    deliver([.data(bytes)], from: endpoint, flow: flow, key: nil, time: receivedAt)
                }
                return
            case .no: break
            }
        }
        let text = String(decoding: first.prefix(64), as: UTF8.self).uppercased()
        var serverSide: Endpoint?
        if text.hasPrefix("* OK") || text.hasPrefix("* PREAUTH") || text.hasPrefix("* BYE") {
            serverSide = ep
        } else if Self.looksLikeCommand(first.prefix(64)) {
            serverSide = nil
            flow.client = ep
        } else {
            ignore(flow)
            return
        }
        if let serverEndpoint = serverSide {
            let other = flow.streams.keys.first { $0 != serverEndpoint }
            flow.client = flow.client ?? other ?? Endpoint(ip: serverEndpoint.ip, port: 0)
        }
        guard let client = flow.client else {
            ignore(flow)
            return
        }
        let server = flow.streams.keys.first { $0 != client } ?? serverSide ?? client
        start(flow, key: FlowKey(client, server), kind: .imap, time: time)
        let held = flow.early
        flow.early = []
        for (endpoint, bytes, receivedAt) in held {
            deliver([.data(bytes)], from: endpoint, flow: flow, key: nil, time: receivedAt)
        }
    }

    enum Verdict { case yes, no, needMore }

    /// With a key log, a flow on an unknown port is IMAP over implicit TLS if it opens with a
    /// ClientHello whose secrets the key log holds and that offers no ALPN protocol but "imap"
    /// (a browser's HTTPS session in the same capture and key log offers h2 or http/1.1).
    static func implicitTLS(_ bytes: [UInt8], keys: ([UInt8]) -> TLSSessionSecrets?) -> Verdict {
        guard bytes.count >= 9 else { return bytes.count < 16_384 ? .needMore : .no }
        let recordEnd = 5 + (Int(bytes[3]) << 8 | Int(bytes[4]))
        guard bytes[0] == 0x16, bytes[1] == 3, bytes[5] == TLSHandshakeType.clientHello else { return .no }
        guard bytes.count >= recordEnd else { return bytes.count < 16_384 ? .needMore : .no }
        let bodyEnd = min(recordEnd, 9 + (Int(bytes[6]) << 16 | Int(bytes[7]) << 8 | Int(bytes[8])))
        guard let hello = TLSHandshakeParser.clientHello(bytes[9..<bodyEnd]) else { return .no }
        guard hello.alpn.allSatisfy({ $0 == "imap" }), keys(hello.random) != nil else { return .no }
        return .yes
    }

    static let commandWords: Set<String> = [
        "CAPABILITY", "NOOP", "LOGOUT", "STARTTLS", "AUTHENTICATE", "LOGIN", "SELECT", "EXAMINE", "CREATE", "DELETE",
        "RENAME", "SUBSCRIBE", "UNSUBSCRIBE", "LIST", "LSUB", "STATUS", "APPEND", "CHECK", "CLOSE", "EXPUNGE", "SEARCH",
        "FETCH", "STORE", "COPY", "UID", "IDLE", "NAMESPACE", "ID", "ENABLE", "MOVE", "UNSELECT", "COMPRESS",
    ]

    /// `tag SP command-name` at the start of the bytes (bytes, not Characters: "\r\n" is one Character).
    static func looksLikeCommand(_ bytes: ArraySlice<UInt8>) -> Bool {
        let words = bytes.split(whereSeparator: { $0 == 0x20 || $0 == 0x0D || $0 == 0x0A }).prefix(2)
        guard words.count == 2 else { return false }
        let tag = String(decoding: words[words.startIndex], as: UTF8.self)
        let name = String(decoding: words[words.startIndex + 1], as: UTF8.self).uppercased()
        return CommandParser.isValidTag(tag) && commandWords.contains(name)
    }
}
