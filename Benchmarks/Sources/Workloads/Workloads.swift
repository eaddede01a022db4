import IMAPCore

/// One read from a capture or a proxy leg: what `SessionDecoder.feed` is given at once.
public struct Chunk: Sendable {
    public let dir: Direction
    public let bytes: [UInt8]
    public let time: Timestamp
}

/// A whole IMAP session, both directions, cut into chunks in the order they are fed.
/// Built once, deterministically; one pass = one `SessionDecoder` fed every chunk.
public struct Workload: Sendable {
    public let name: String
    public let chunks: [Chunk]
    public let clientBytes: Int
    public let serverBytes: Int
    public let chunkSize: Int
    public var totalBytes: Int { clientBytes + serverBytes }
    public var startTime: Timestamp { chunks.first?.time ?? .zero }
    public var endTime: Timestamp { Timestamp(microseconds: (chunks.last?.time.microseconds ?? 0) + 1_000) }

    /// A one-line description for readers of benchmark output.
    public var summary: String {
        "\(name): \(totalBytes) bytes per iteration (client \(clientBytes), server \(serverBytes), \(chunks.count) chunks of at most \(chunkSize) bytes)"
    }
}

/// SplitMix64: a tiny deterministic generator, so every run decodes the same bytes.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func int(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.count))
    }
}

/// Collects the session as a sequence of writes (one direction each), then cuts every write
/// into chunks of at most `chunkSize` bytes.
struct SessionBuilder {
    private(set) var writes: [(Direction, [UInt8])] = []

    mutating func write(_ dir: Direction, _ text: String) { write(dir, Array(text.utf8)) }

    mutating func write(_ dir: Direction, _ bytes: [UInt8]) {
        if let last = writes.last, last.0 == dir {
            writes[writes.count - 1].1 += bytes
        } else {
            writes.append((dir, bytes))
        }
    }

    func build(name: String, chunkSize: Int) -> Workload {
        var chunks: [Chunk] = []
        var time: Int64 = 1_700_000_000_000_000
        var counts: [Direction: Int] = [:]
        for (dir, bytes) in writes {
            counts[dir, default: 0] += bytes.count
            var i = 0
            while i < bytes.count {
                let j = min(i + chunkSize, bytes.count)
                chunks.append(Chunk(dir: dir, bytes: Array(bytes[i..<j]), time: Timestamp(microseconds: time)))
                time += 50
                i = j
            }
        }
        return Workload(name: name, chunks: chunks, clientBytes: counts[.client] ?? 0, serverBytes: counts[.server] ?? 0, chunkSize: chunkSize)
    }
}

public enum Workloads {
    /// How many bytes each `feed` call gets at most, by default.
    public static let chunkSize = 16 * 1024

    /// The workloads by name, in the order the runners report them.
    public static let names = ["literal-heavy", "command-heavy"]

    /// `batch`: rounds of 8 commands the client pipelines before the server answers (command-heavy).
    public static func named(_ name: String, chunkSize: Int = chunkSize, batch: Int = 8) -> Workload? {
        switch name {
        case "literal-heavy": return literalHeavy(chunkSize: chunkSize)
        case "command-heavy": return commandHeavy(batch: batch, chunkSize: chunkSize)
        default: return nil
        }
    }

    static let greeting = "* OK [CAPABILITY IMAP4rev1 LITERAL+ UIDPLUS IDLE] imapscope benchmark server ready\r\n"

    static func prelude(_ s: inout SessionBuilder, exists: Int, uidNext: Int) {
        s.write(.server, greeting)
        s.write(.client, "a0 LOGIN bench \"correct horse battery staple\"\r\n")
        s.write(.server, "a0 OK [CAPABILITY IMAP4rev1 LITERAL+ UIDPLUS IDLE MOVE] LOGIN completed\r\n")
        s.write(.client, "a00 SELECT INBOX\r\n")
        s.write(.server, selectResponses(tag: "a00", exists: exists, uidNext: uidNext))
    }

    static func selectResponses(tag: String, exists: Int, uidNext: Int) -> String {
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
            + "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted\r\n"
            + "* \(exists) EXISTS\r\n"
            + "* 0 RECENT\r\n"
            + "* OK [UIDVALIDITY 1700000000] UIDs valid\r\n"
            + "* OK [UIDNEXT \(uidNext)] Predicted next UID\r\n"
            + "\(tag) OK [READ-WRITE] SELECT completed\r\n"
    }

    static func logout(_ s: inout SessionBuilder, tag: String) {
        s.write(.client, "\(tag) LOGOUT\r\n")
        s.write(.server, "* BYE logging out\r\n\(tag) OK LOGOUT completed\r\n")
    }

    // MARK: - literal-heavy

    static let words = ["the", "message", "server", "client", "mailbox", "folder", "sync", "flags", "quarterly",
                        "report", "meeting", "tomorrow", "attached", "please", "review", "draft", "numbers",
                        "budget", "thanks", "regards", "update", "project", "schedule", "invoice", "release",
                        "notes", "a", "of", "and", "to", "in", "for", "with", "on", "is", "we", "you", "it"]

    static func messageBody(uid: Int, size: Int, rng: inout SplitMix64) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(size + 200)
        let boundary = "=_bench_\(uid)"
        let headers = "Return-Path: <sender\(uid % 17)@example.org>\r\n"
            + "Received: from mx.example.org (mx.example.org [192.0.2.\(uid % 250)]) by imap.example.com\r\n"
            + "\twith ESMTPS id \(rng.next() % 1_000_000_000); Tue, 14 Nov 2023 10:\(10 + uid % 50):00 +0000\r\n"
            + "From: Sender \(uid % 17) <sender\(uid % 17)@example.org>\r\n"
            + "To: Bench User <bench@example.com>\r\n"
            + "Subject: Benchmark message \(uid): quarterly report\r\n"
            + "Date: Tue, 14 Nov 2023 10:\(10 + uid % 50):00 +0000\r\n"
            + "Message-ID: <\(uid).\(rng.next() % 1_000_000)@example.org>\r\n"
            + "MIME-Version: 1.0\r\n"
            + "Content-Type: multipart/mixed; boundary=\"\(boundary)\"\r\n\r\n"
            + "--\(boundary)\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        out += headers.utf8
        // About a third of the body as text, the rest as a base64 attachment.
        let textEnd = size / 3
        var line: [UInt8] = []
        while out.count < textEnd {
            let w = words[Int(rng.next() % UInt64(words.count))]
            if line.count + w.count + 1 > 72 {
                out += line; out += [13, 10]; line.removeAll(keepingCapacity: true)
            }
            if !line.isEmpty { line.append(32) }
            line += w.utf8
        }
        out += line; out += [13, 10]
        out += "\r\n--\(boundary)\r\nContent-Type: application/octet-stream; name=\"data.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n".utf8
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        let closing = Array("\r\n--\(boundary)--\r\n".utf8)
        while out.count + 78 + closing.count <= size {
            for _ in 0..<76 { out.append(alphabet[Int(rng.next() & 63)]) }
            out += [13, 10]
        }
        out += closing
        return out
    }

    /// `a1 UID FETCH 1:* (BODY.PEEK[])` answered by `messages` FETCH responses, each carrying a
    /// 20–100 KB message as a `{n}` literal.
    public static func literalHeavy(messages: Int = 64, chunkSize: Int = chunkSize) -> Workload {
        var rng = SplitMix64(seed: 0x1111)
        var s = SessionBuilder()
        prelude(&s, exists: messages, uidNext: 1001 + messages)
        s.write(.client, "a1 UID FETCH 1:* (BODY.PEEK[])\r\n")
        for n in 1...messages {
            let uid = 1000 + n
            let body = messageBody(uid: uid, size: rng.int(20_000...100_000), rng: &rng)
            s.write(.server, "* \(n) FETCH (UID \(uid) BODY[] {\(body.count)}\r\n")
            s.write(.server, body)
            s.write(.server, ")\r\n")
        }
        s.write(.server, "a1 OK UID FETCH completed\r\n")
        logout(&s, tag: "a2")
        return s.build(name: "literal-heavy", chunkSize: chunkSize)
    }

    // MARK: - command-heavy

    /// Many small pipelined commands (`UID FETCH 1:100 (FLAGS)`, `NOOP`, `UID STORE`, `SELECT`,
    /// `UID SEARCH`, `STATUS` …) and their untagged responses and tagged OKs. The client writes a
    /// batch of `batch` rounds of 8 commands at once (pipelining: 64 commands in flight by
    /// default), then the server answers the whole batch.
    public static func commandHeavy(rounds: Int = 640, batch: Int = 8, chunkSize: Int = chunkSize) -> Workload {
        let exists = 100
        var s = SessionBuilder()
        prelude(&s, exists: exists, uidNext: exists + 1)
        var tagNumber = 1
        var round = 0
        let flagSets = ["\\Seen", "", "\\Seen \\Flagged", "\\Answered \\Seen", "\\Seen"]
        while round < rounds {
            var client = ""
            var server = ""
            for _ in 0..<min(batch, rounds - round) {
                func tag() -> String { defer { tagNumber += 1 }; return "a\(tagNumber)" }
                let k = 1 + (round * 7) % exists

                var t = tag()
                client += "\(t) UID FETCH 1:\(exists) (FLAGS)\r\n"
                for i in 1...exists {
                    server += "* \(i) FETCH (UID \(i) FLAGS (\(flagSets[(i + round) % flagSets.count])))\r\n"
                }
                server += "\(t) OK UID FETCH completed\r\n"

                t = tag()
                client += "\(t) NOOP\r\n"
                server += "* \(exists) EXISTS\r\n\(t) OK NOOP completed\r\n"

                t = tag()
                client += "\(t) UID STORE \(k) +FLAGS (\\Seen)\r\n"
                server += "* \(k) FETCH (UID \(k) FLAGS (\\Seen))\r\n\(t) OK UID STORE completed\r\n"

                t = tag()
                client += "\(t) UID FETCH \(k) (UID FLAGS RFC822.SIZE INTERNALDATE)\r\n"
                server += "* \(k) FETCH (UID \(k) FLAGS (\\Seen) RFC822.SIZE \(2000 + k * 13) INTERNALDATE \"14-Nov-2023 10:11:12 +0000\")\r\n"
                server += "\(t) OK UID FETCH completed\r\n"

                t = tag()
                client += "\(t) UID SEARCH UNSEEN\r\n"
                server += "* SEARCH \(k) \(k % 50 + 1) \(k % 30 + 2)\r\n\(t) OK SEARCH completed\r\n"

                t = tag()
                client += "\(t) STATUS Archive (MESSAGES UIDNEXT UNSEEN)\r\n"
                server += "* STATUS Archive (MESSAGES \(200 + round) UIDNEXT \(301 + round) UNSEEN 0)\r\n\(t) OK STATUS completed\r\n"

                t = tag()
                client += "\(t) SELECT INBOX\r\n"
                server += selectResponses(tag: t, exists: exists, uidNext: exists + 1)

                t = tag()
                client += "\(t) NOOP\r\n"
                server += "\(t) OK NOOP completed\r\n"

                round += 1
            }
            s.write(.client, client)
            s.write(.server, server)
        }
        logout(&s, tag: "a\(tagNumber)")
        return s.build(name: "command-heavy", chunkSize: chunkSize)
    }
}

// MARK: - Passes

public enum Pass {
    /// Decodes the whole session once; returns the number of events.
    public static func decode(_ w: Workload, options: DecoderOptions = DecoderOptions()) -> Int {
        let d = SessionDecoder(options: options)
        var n = d.start(client: "192.0.2.1:50000", server: "192.0.2.2:143", source: "benchmark", time: w.startTime).count
        for c in w.chunks {
            n += d.feed(c.dir, c.bytes, time: c.time).count
        }
        n += d.finish(reason: "closed", time: w.endTime).count
        return n
    }

    /// Decodes, redacts and writes every event as a JSON line into `buffer`, which is emptied
    /// after each chunk as if written out; returns the JSON Lines bytes produced.
    public static func decodeRedactJSONL(_ w: Workload, redactor: Redactor, buffer: inout [UInt8],
                                         options: DecoderOptions = DecoderOptions()) -> Int {
        let d = SessionDecoder(options: options)
        var seq = 0
        var written = 0
        // As `EventPipeline` does for a JSON Lines sink: each event's body is moved, not copied, and
        // no wire bytes are rendered (no sink reads them).
        func sink(_ events: consuming [DecodedEvent]) {
            for index in events.indices {
                seq += 1
                redactor.redact(taking: &events[index], session: "s", seq: seq, wire: false).encode(to: &buffer)
                buffer.append(0x0A)
            }
            written += buffer.count
            buffer.removeAll(keepingCapacity: true)
        }
        sink(d.start(client: "192.0.2.1:50000", server: "192.0.2.2:143", source: "benchmark", time: w.startTime))
        for c in w.chunks {
            sink(d.feed(c.dir, c.bytes, time: c.time))
        }
        sink(d.finish(reason: "closed", time: w.endTime))
        return written
    }

    /// Events of one pass by kind, and the lint codes seen: to check that a workload decodes
    /// cleanly (no `unparsed`, only the expected lints) before timing it.
    public static func census(_ w: Workload) -> (kinds: [EventKind: Int], lints: [String: Int]) {
        let d = SessionDecoder(options: DecoderOptions())
        var kinds: [EventKind: Int] = [:]
        var lints: [String: Int] = [:]
        func count(_ events: [DecodedEvent]) {
            for e in events {
                kinds[e.kind, default: 0] += 1
                if case .lint(let lint) = e.body { lints[lint.code, default: 0] += 1 }
            }
        }
        count(d.start(client: "192.0.2.1:50000", server: "192.0.2.2:143", source: "benchmark", time: w.startTime))
        for c in w.chunks { count(d.feed(c.dir, c.bytes, time: c.time)) }
        count(d.finish(reason: "closed", time: w.endTime))
        return (kinds, lints)
    }

    /// A redactor with a fixed key, so markers (and so output sizes) are the same every run.
    public static let redactor = Redactor(showSecrets: false, key: [UInt8](repeating: 0x42, count: 32))
}
