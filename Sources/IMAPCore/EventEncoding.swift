/// Schema v1's JSON for a typed event, written straight into bytes, and read back.
///
/// Field order is part of what people and diffs see, so it is fixed here: the envelope
/// (`session`, `seq`, `time`, `kind`, `dir`), the kind's fields, `bytes`, `annotation`. A wire
/// event's `line` follows its identifying fields (tag, name, uid, status, number, mechanism,
/// step) and precedes the rest.
struct EventFieldWriter {
    /// The output buffer, owned by the writer while it writes (swapped in and out, never copied).
    var out: [UInt8] = []
    private var pendingLine: String?

    init(line: String?) { pendingLine = line }

    /// `,"name":`, after the pending line unless the name is an identifying one. Names written
    /// here are plain ASCII and need no escaping.
    private mutating func key(_ name: StaticString) {
        if pendingLine != nil && !Self.isIdentifying(name) { flushLine() }
        out.append(UInt8(ascii: ","))
        out.append(UInt8(ascii: "\""))
        name.withUTF8Buffer { out.append(contentsOf: $0) }
        out.append(UInt8(ascii: "\""))
        out.append(UInt8(ascii: ":"))
    }

    private static func isIdentifying(_ name: StaticString) -> Bool {
        name.withUTF8Buffer { isIdentifying($0) }
    }

    /// tag, name, uid, status, number, mechanism, step.
    private static func isIdentifying(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        switch bytes.count {
        case 3: return bytes.elementsEqual("tag".utf8) || bytes.elementsEqual("uid".utf8)
        case 4: return bytes.elementsEqual("name".utf8) || bytes.elementsEqual("step".utf8)
        case 6: return bytes.elementsEqual("status".utf8) || bytes.elementsEqual("number".utf8)
        case 9: return bytes.elementsEqual("mechanism".utf8)
        default: return false
        }
    }

    private static func isIdentifying(_ name: String) -> Bool {
        var name = name
        return name.withUTF8 { isIdentifying($0) }
    }

    /// A field whose name comes with the data.
    private mutating func dynamicKey(_ name: String) {
        if pendingLine != nil && !Self.isIdentifying(name) { flushLine() }
        out.append(UInt8(ascii: ","))
        JSONValue.writeString(name, to: &out)
        out.append(UInt8(ascii: ":"))
    }

    mutating func string(_ name: StaticString, _ value: String) {
        key(name)
        JSONValue.writeString(value, to: &out)
    }

    mutating func string(_ name: StaticString, _ value: String?) {
        if let value { string(name, value) }
    }

    mutating func int<I: BinaryInteger>(_ name: StaticString, _ value: I) {
        key(name)
        JSONValue.writeInt(value, to: &out)
    }

    mutating func int<I: BinaryInteger>(_ name: StaticString, _ value: I?) {
        if let value { int(name, value) }
    }

    mutating func bool(_ name: StaticString, _ value: Bool) {
        key(name)
        out.append(contentsOf: (value ? "true" : "false").utf8)
    }

    /// Written only when true (flags such as `truncated`).
    mutating func flag(_ name: StaticString, _ value: Bool) {
        if value { bool(name, true) }
    }

    mutating func value(_ name: StaticString, _ value: JSONValue?) {
        guard let value else { return }
        key(name)
        value.write(to: &out)
    }

    mutating func strings(_ name: StaticString, _ values: [String]?) {
        guard let values else { return }
        key(name)
        out.append(UInt8(ascii: "["))
        for (i, v) in values.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            JSONValue.writeString(v, to: &out)
        }
        out.append(UInt8(ascii: "]"))
    }

    mutating func counts(_ name: StaticString, _ values: [(Direction, Int)]?) {
        guard let values else { return }
        value(name, .object(values.map { ($0.0.rawValue, .int(Int64($0.1))) }))
    }

    mutating func fields(_ fields: [(String, JSONValue)]) {
        for (name, v) in fields {
            dynamicKey(name)
            v.write(to: &out)
        }
    }

    /// The line, if no field after the identifying ones took it out already.
    mutating func flushLine() {
        guard let line = pendingLine else { return }
        pendingLine = nil
        out.append(contentsOf: ",\"line\":".utf8)
        JSONValue.writeString(line, to: &out)
    }
}

extension Event {
    /// Appends the event's schema v1 JSON object (no line break).
    public func encode(to out: inout [UInt8]) {
        out.append(contentsOf: "{\"session\":".utf8)
        JSONValue.writeString(session, to: &out)
        out.append(contentsOf: ",\"seq\":".utf8)
        JSONValue.writeInt(seq, to: &out)
        out.append(contentsOf: ",\"time\":\"".utf8)
        time.writeRFC3339(to: &out)
        out.append(UInt8(ascii: "\""))
        out.append(contentsOf: ",\"kind\":".utf8)
        JSONValue.writeString(kind.rawValue, to: &out)
        if let dir {
            out.append(contentsOf: ",\"dir\":".utf8)
            JSONValue.writeString(dir.rawValue, to: &out)
        }
        var w = EventFieldWriter(line: body.line)
        swap(&w.out, &out)
        body.encodeFields(&w)
        w.flushLine()
        if case .sasl(let e) = body { w.string("payload", e.payload) }
        w.fields(extra)
        w.int("bytes", bytes)
        w.string("annotation", annotation)
        swap(&w.out, &out)
        out.append(UInt8(ascii: "}"))
    }

    /// The event as a JSON value (tools and tests; sinks use the typed body).
    public var json: JSONValue {
        var bytes: [UInt8] = []
        encode(to: &bytes)
        return (try? JSONParser.parse(bytes)) ?? .null
    }

    /// One field of the event's JSON (tools and tests; sinks use the typed body).
    public subscript(key: String) -> JSONValue? { json[key] }
}

extension EventBody {
    fileprivate func encodeFields(_ w: inout EventFieldWriter) {
        switch self {
        case .sessionStart(let e):
            w.string("client", e.client)
            w.string("server", e.server)
            w.string("source", e.source)
            w.string("transport", e.transport)
            w.string("file", e.file)
            w.string("upstream", e.upstream)
            w.string("upstream_verification", e.upstreamVerification)
        case .command(let e):
            w.string("tag", e.tag)
            w.string("name", e.name.text)
            w.bool("uid", e.uid)
            w.fields(e.arguments.fields)
            w.flag("truncated", e.truncated)
            w.flag("literal_refused", e.literalRefused)
        case .tagged(let e):
            w.string("tag", e.tag)
            w.string("status", e.status)
            w.string("command", e.command)
            w.value("latency_ms", e.latencyMs.map(JSONValue.double))
            e.response.encode(&w)
        case .untagged(let e):
            w.string("name", e.name)
            w.int("number", e.number)
            e.response.encode(&w)
            w.flag("unsolicited", e.unsolicited)
        case .continuation(let e):
            e.response.encode(&w)
        case .sasl(let e):
            w.string("tag", e.tag)
            w.string("mechanism", e.mechanism)
            w.int("step", e.step)
            w.flag("cancelled", e.cancelled)
            w.string("challenge", e.challenge)
            w.string("user", e.user)
            w.string("authzid", e.authzid)
            if let base64 = e.base64 { w.bool("base64", base64) }
        case .idleDone(let e):
            w.string("tag", e.tag)
        case .tls(let e):
            w.string("leg", e.leg)
            w.string("phase", e.phase)
            w.string("version", e.version)
            w.string("cipher", e.cipher)
            w.string("sni", e.sni)
            w.strings("versions_offered", e.versionsOffered)
            w.string("verification", e.verification)
            w.string("error", e.error)
            w.string("alpn", e.alpn)
            if let d = e.decrypted { w.bool("decrypted", d) }
        case .compress(let e):
            w.string("algorithm", e.algorithm)
        case .gap(let e):
            w.int("missing", e.missing)
            w.int("skipped_bytes", e.skippedBytes)
            w.int("skipped_lines", e.skippedLines)
            w.string("raw", e.raw)
        case .unparsed(let e):
            w.string("tag", e.tag)
            w.string("name", e.name)
            w.string("reason", e.reason)
            w.string("raw", e.raw)
        case .lint(let e):
            w.string("level", e.level.rawValue)
            w.string("code", e.code)
            w.string("message", e.message)
        case .fault(let e):
            w.string("rule", e.rule)
            w.string("action", e.action)
            w.string("tag", e.tag)
            w.string("command", e.command)
            w.string("detail", e.detail)
        case .sessionEnd(let e):
            w.string("reason", e.reason)
            w.string("state", e.state)
            w.int("commands", e.commands)
            w.value("duration_ms", e.durationMs.map(JSONValue.double))
            w.counts("encrypted_bytes", e.encryptedBytes)
            w.value("mailbox", e.mailbox)
            w.counts("bytes_after_deflate_end", e.bytesAfterDeflateEnd)
        }
    }
}

extension ResponseFields {
    fileprivate func encode(_ w: inout EventFieldWriter) {
        w.string("code", code)
        if !codeArguments.isEmpty { w.strings("code_arguments", codeArguments) }
        w.string("text", text)
        w.fields(arguments.fields)
        w.flag("truncated", truncated)
    }
}

// MARK: - Reading JSON back

/// The fields of one JSON object, taken by name; what nobody took is left over in order.
struct JSONFieldReader {
    private var fields: [(String, JSONValue)]

    init(_ fields: [(String, JSONValue)]) { self.fields = fields }

    mutating func take(_ name: String) -> JSONValue? {
        guard let i = fields.firstIndex(where: { $0.0 == name }) else { return nil }
        return fields.remove(at: i).1
    }

    mutating func string(_ name: String) -> String? { take(name)?.stringValue }
    mutating func int(_ name: String) -> Int64? { take(name)?.intValue }
    mutating func bool(_ name: String) -> Bool { take(name)?.boolValue == true }
    mutating func strings(_ name: String) -> [String]? { take(name)?.arrayValue?.compactMap(\.stringValue) }

    mutating func counts(_ name: String) -> [(Direction, Int)]? {
        take(name)?.objectValue?.compactMap { key, value in
            guard let dir = Direction(rawValue: key), let n = value.intValue else { return nil }
            return (dir, Int(n))
        }
    }

    mutating func require(_ name: String) throws -> String {
        guard let v = string(name) else { throw Event.DecodingError(message: "missing '\(name)'") }
        return v
    }

    var rest: [(String, JSONValue)] { fields }

    /// Drops every remaining field of these names (a repeated key: the first one read wins).
    mutating func dropAll(_ names: Set<String>) { fields.removeAll { names.contains($0.0) } }
}

extension Event {
    public struct DecodingError: Error, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// Reads a v1 JSON object back (the inverse of `encode`). Fields the kind does not define
    /// are kept in `extra` (or in a command's or response's arguments) and written back after it.
    public init(json: JSONValue) throws {
        guard case .object(let object) = json else {
            throw DecodingError(message: "an event must be a JSON object")
        }
        var r = JSONFieldReader(object)
        let sessionValue = r.take("session")
        guard let session = sessionValue?.stringValue ?? sessionValue?.intValue.map({ String($0) }) else {
            throw DecodingError(message: "missing 'session'")
        }
        guard let seq = r.int("seq") else { throw DecodingError(message: "missing or invalid 'seq'") }
        guard let t = r.string("time"), let time = Timestamp(rfc3339: t) else {
            throw DecodingError(message: "missing or invalid 'time'")
        }
        guard let k = r.string("kind"), let kind = EventKind(rawValue: k) else {
            throw DecodingError(message: "missing or unknown 'kind'")
        }
        var dir: Direction?
        if let d = r.string("dir") {
            guard let known = Direction(rawValue: d) else { throw DecodingError(message: "unknown 'dir' \(d)") }
            dir = known
        }
        let annotation = r.string("annotation")
        let bytes = r.int("bytes").map { Int(clamping: $0) }
        let line = r.string("line")
        r.dropAll(["session", "seq", "time", "kind", "dir", "annotation", "bytes", "line"])
        var body = try EventBody.decode(kind, &r)
        body.line = line
        self.init(
            session: session, seq: Int(clamping: seq), time: time, dir: dir, body: body, bytes: bytes,
            annotation: annotation)
        extra = r.rest
    }
}

extension EventBody {
    fileprivate static func decode(_ kind: EventKind, _ r: inout JSONFieldReader) throws -> EventBody {
        switch kind {
        case .sessionStart:
            return .sessionStart(
                SessionStartEvent(
                    client: r.string("client") ?? "?", server: r.string("server") ?? "?",
                    source: r.string("source") ?? "?",
                    transport: r.string("transport"), file: r.string("file"), upstream: r.string("upstream"),
                    upstreamVerification: r.string("upstream_verification")))
        case .command:
            var e = CommandEvent(
                tag: try r.require("tag"), name: CommandName(try r.require("name")), uid: r.bool("uid"))
            e.truncated = r.bool("truncated")
            e.literalRefused = r.bool("literal_refused")
            e.arguments = ArgumentFields(readBack: r.rest)
            r = JSONFieldReader([])
            return .command(e)
        case .tagged:
            var e = TaggedEvent(tag: try r.require("tag"), status: try r.require("status"))
            e.command = r.string("command")
            e.latencyMs = r.take("latency_ms")?.doubleValue
            e.response = ResponseFields.decode(&r)
            return .tagged(e)
        case .untagged:
            var e = UntaggedEvent(name: try r.require("name"), number: r.int("number"))
            e.unsolicited = r.bool("unsolicited")
            e.response = ResponseFields.decode(&r)
            return .untagged(e)
        case .continuation:
            return .continuation(ContinuationEvent(response: ResponseFields.decode(&r)))
        case .sasl:
            var e = SASLEvent(
                tag: try r.require("tag"), mechanism: try r.require("mechanism"),
                step: Int(clamping: r.int("step") ?? 0))
            e.cancelled = r.bool("cancelled")
            e.challenge = r.string("challenge")
            e.user = r.string("user")
            e.authzid = r.string("authzid")
            e.base64 = r.take("base64")?.boolValue
            e.payload = r.string("payload")
            return .sasl(e)
        case .idleDone:
            return .idleDone(IdleDoneEvent(tag: r.string("tag") ?? ""))
        case .tls:
            return .tls(
                TLSEvent(
                    leg: r.string("leg") ?? "?", phase: r.string("phase") ?? "?", version: r.string("version"),
                    cipher: r.string("cipher"), sni: r.string("sni"), versionsOffered: r.strings("versions_offered"),
                    verification: r.string("verification"), error: r.string("error"), alpn: r.string("alpn"),
                    decrypted: r.take("decrypted")?.boolValue))
        case .compress:
            return .compress(CompressEvent(algorithm: r.string("algorithm") ?? "?"))
        case .gap:
            return .gap(
                GapEvent(
                    missing: Int(clamping: r.int("missing") ?? 0),
                    skippedBytes: r.int("skipped_bytes").map { Int(clamping: $0) },
                    skippedLines: r.int("skipped_lines").map { Int(clamping: $0) }, raw: r.string("raw")))
        case .unparsed:
            return .unparsed(
                UnparsedEvent(
                    tag: r.string("tag"), name: r.string("name"),
                    reason: r.string("reason") ?? "", raw: r.string("raw") ?? ""))
        case .lint:
            return .lint(
                LintEvent(
                    level: r.string("level").flatMap(Lint.Level.init(rawValue:)) ?? .warning,
                    code: r.string("code") ?? "?", message: r.string("message") ?? ""))
        case .fault:
            return .fault(
                FaultEvent(
                    rule: try r.require("rule"), action: try r.require("action"), tag: r.string("tag"),
                    command: r.string("command"), detail: r.string("detail") ?? ""))
        case .sessionEnd:
            var e = SessionEndEvent(
                reason: r.string("reason") ?? "", state: r.string("state"),
                commands: r.int("commands").map { Int(clamping: $0) })
            e.durationMs = r.take("duration_ms")?.doubleValue
            e.encryptedBytes = r.counts("encrypted_bytes")
            e.mailbox = r.take("mailbox")
            e.bytesAfterDeflateEnd = r.counts("bytes_after_deflate_end")
            return .sessionEnd(e)
        }
    }
}

extension ResponseFields {
    fileprivate static func decode(_ r: inout JSONFieldReader) -> ResponseFields {
        var f = ResponseFields(
            code: r.string("code"), codeArguments: r.strings("code_arguments") ?? [],
            text: r.string("text"))
        f.truncated = r.bool("truncated")
        f.arguments = ArgumentFields(readBack: r.rest)
        r = JSONFieldReader([])
        return f
    }
}
