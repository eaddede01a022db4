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
        for (i, element) in values.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            JSONValue.writeString(element, to: &out)
        }
        out.append(UInt8(ascii: "]"))
    }

    mutating func counts(_ name: StaticString, _ values: [(Direction, Int)]?) {
        guard let values else { return }
        value(name, .object(values.map { ($0.0.rawValue, .int(Int64($0.1))) }))
    }

    mutating func fields(_ fields: [(String, JSONValue)]) {
        for (name, fieldValue) in fields {
            dynamicKey(name)
            fieldValue.write(to: &out)
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
        var writer = EventFieldWriter(line: body.line)
        swap(&writer.out, &out)
        body.encodeFields(&writer)
        writer.flushLine()
        if case .sasl(let sasl) = body { writer.string("payload", sasl.payload) }
        writer.fields(extra)
        writer.int("bytes", bytes)
        writer.string("annotation", annotation)
        swap(&writer.out, &out)
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
    fileprivate func encodeFields(_ writer: inout EventFieldWriter) {
        switch self {
        case .sessionStart(let event):
            writer.string("client", event.client)
            writer.string("server", event.server)
            writer.string("source", event.source)
            writer.string("transport", event.transport)
            writer.string("file", event.file)
            writer.string("upstream", event.upstream)
            writer.string("upstream_verification", event.upstreamVerification)
        case .command(let event):
            writer.string("tag", event.tag)
            writer.string("name", event.name.text)
            writer.bool("uid", event.uid)
            writer.fields(event.arguments.fields)
            writer.flag("truncated", event.truncated)
            writer.flag("literal_refused", event.literalRefused)
        case .tagged(let event):
            writer.string("tag", event.tag)
            writer.string("status", event.status)
            writer.string("command", event.command)
            writer.value("latency_ms", event.latencyMs.map(JSONValue.double))
            event.response.encode(&writer)
        case .untagged(let event):
            writer.string("name", event.name)
            writer.int("number", event.number)
            event.response.encode(&writer)
            writer.flag("unsolicited", event.unsolicited)
        case .continuation(let event):
            event.response.encode(&writer)
        case .sasl(let event):
            writer.string("tag", event.tag)
            writer.string("mechanism", event.mechanism)
            writer.int("step", event.step)
            writer.flag("cancelled", event.cancelled)
            writer.string("challenge", event.challenge)
            writer.string("user", event.user)
            writer.string("authzid", event.authzid)
            if let base64 = event.base64 { writer.bool("base64", base64) }
        case .idleDone(let event):
            writer.string("tag", event.tag)
        case .tls(let event):
            writer.string("leg", event.leg)
            writer.string("phase", event.phase)
            writer.string("version", event.version)
            writer.string("cipher", event.cipher)
            writer.string("sni", event.sni)
            writer.strings("versions_offered", event.versionsOffered)
            writer.string("verification", event.verification)
            writer.string("error", event.error)
            writer.string("alpn", event.alpn)
            if let decrypted = event.decrypted { writer.bool("decrypted", decrypted) }
        case .compress(let event):
            writer.string("algorithm", event.algorithm)
        case .gap(let event):
            writer.int("missing", event.missing)
            writer.int("skipped_bytes", event.skippedBytes)
            writer.int("skipped_lines", event.skippedLines)
            writer.string("raw", event.raw)
        case .unparsed(let event):
            writer.string("tag", event.tag)
            writer.string("name", event.name)
            writer.string("reason", event.reason)
            writer.string("raw", event.raw)
        case .lint(let event):
            writer.string("level", event.level.rawValue)
            writer.string("code", event.code)
            writer.string("message", event.message)
        case .fault(let event):
            writer.string("rule", event.rule)
            writer.string("action", event.action)
            writer.string("tag", event.tag)
            writer.string("command", event.command)
            writer.string("detail", event.detail)
        case .sessionEnd(let event):
            writer.string("reason", event.reason)
            writer.string("state", event.state)
            writer.int("commands", event.commands)
            writer.value("duration_ms", event.durationMs.map(JSONValue.double))
            writer.counts("encrypted_bytes", event.encryptedBytes)
            writer.value("mailbox", event.mailbox)
            writer.counts("bytes_after_deflate_end", event.bytesAfterDeflateEnd)
        }
    }
}

extension ResponseFields {
    fileprivate func encode(_ writer: inout EventFieldWriter) {
        writer.string("code", code)
        if !codeArguments.isEmpty { writer.strings("code_arguments", codeArguments) }
        writer.string("text", text)
        writer.fields(arguments.fields)
        writer.flag("truncated", truncated)
    }
}

// MARK: - Reading JSON back

/// The fields of one JSON object, taken by name; what nobody took is left over in order.
struct JSONFieldReader {
    private var fields: [(String, JSONValue)]

    init(_ fields: [(String, JSONValue)]) { self.fields = fields }

    mutating func take(_ name: String) -> JSONValue? {
        guard let index = fields.firstIndex(where: { $0.0 == name }) else { return nil }
        return fields.remove(at: index).1
    }

    mutating func string(_ name: String) -> String? { take(name)?.stringValue }
    mutating func int(_ name: String) -> Int64? { take(name)?.intValue }
    mutating func bool(_ name: String) -> Bool { take(name)?.boolValue == true }
    mutating func strings(_ name: String) -> [String]? { take(name)?.arrayValue?.compactMap(\.stringValue) }

    mutating func counts(_ name: String) -> [(Direction, Int)]? {
        take(name)?.objectValue?.compactMap { key, value in
            guard let dir = Direction(rawValue: key), let count = value.intValue else { return nil }
            return (dir, Int(count))
        }
    }

    mutating func require(_ name: String) throws -> String {
        guard let value = string(name) else { throw Event.DecodingError(message: "missing '\(name)'") }
        return value
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
        var reader = JSONFieldReader(object)
        let sessionValue = reader.take("session")
        guard let session = sessionValue?.stringValue ?? sessionValue?.intValue.map({ String($0) }) else {
            throw DecodingError(message: "missing 'session'")
        }
        guard let seq = reader.int("seq") else { throw DecodingError(message: "missing or invalid 'seq'") }
        guard let timeText = reader.string("time"), let time = Timestamp(rfc3339: timeText) else {
            throw DecodingError(message: "missing or invalid 'time'")
        }
        guard let kindText = reader.string("kind"), let kind = EventKind(rawValue: kindText) else {
            throw DecodingError(message: "missing or unknown 'kind'")
        }
        var dir: Direction?
        if let dirText = reader.string("dir") {
            guard let known = Direction(rawValue: dirText) else {
                throw DecodingError(message: "unknown 'dir' \(dirText)")
            }
            dir = known
        }
        let annotation = reader.string("annotation")
        let bytes = reader.int("bytes").map { Int(clamping: $0) }
        let line = reader.string("line")
        reader.dropAll(["session", "seq", "time", "kind", "dir", "annotation", "bytes", "line"])
        var body = try EventBody.decode(kind, &reader)
        body.line = line
        self.init(
            session: session, seq: Int(clamping: seq), time: time, dir: dir, body: body, bytes: bytes,
            annotation: annotation)
        extra = reader.rest
    }
}

extension EventBody {
    fileprivate static func decode(_ kind: EventKind, _ reader: inout JSONFieldReader) throws -> EventBody {
        switch kind {
        case .sessionStart:
            return .sessionStart(
                SessionStartEvent(
                    client: reader.string("client") ?? "?", server: reader.string("server") ?? "?",
                    source: reader.string("source") ?? "?",
                    transport: reader.string("transport"), file: reader.string("file"),
                    upstream: reader.string("upstream"),
                    upstreamVerification: reader.string("upstream_verification")))
        case .command:
            var event = CommandEvent(
                tag: try reader.require("tag"), name: CommandName(try reader.require("name")), uid: reader.bool("uid"))
            event.truncated = reader.bool("truncated")
            event.literalRefused = reader.bool("literal_refused")
            event.arguments = ArgumentFields(readBack: reader.rest)
            reader = JSONFieldReader([])
            return .command(event)
        case .tagged:
            var event = TaggedEvent(tag: try reader.require("tag"), status: try reader.require("status"))
            event.command = reader.string("command")
            event.latencyMs = reader.take("latency_ms")?.doubleValue
            event.response = ResponseFields.decode(&reader)
            return .tagged(event)
        case .untagged:
            var event = UntaggedEvent(name: try reader.require("name"), number: reader.int("number"))
            event.unsolicited = reader.bool("unsolicited")
            event.response = ResponseFields.decode(&reader)
            return .untagged(event)
        case .continuation:
            return .continuation(ContinuationEvent(response: ResponseFields.decode(&reader)))
        case .sasl:
            var event = SASLEvent(
                tag: try reader.require("tag"), mechanism: try reader.require("mechanism"),
                step: Int(clamping: reader.int("step") ?? 0))
            event.cancelled = reader.bool("cancelled")
            event.challenge = reader.string("challenge")
            event.user = reader.string("user")
            event.authzid = reader.string("authzid")
            event.base64 = reader.take("base64")?.boolValue
            event.payload = reader.string("payload")
            return .sasl(event)
        case .idleDone:
            return .idleDone(IdleDoneEvent(tag: reader.string("tag") ?? ""))
        case .tls:
            return .tls(
                TLSEvent(
                    leg: reader.string("leg") ?? "?", phase: reader.string("phase") ?? "?",
                    version: reader.string("version"),
                    cipher: reader.string("cipher"), sni: reader.string("sni"),
                    versionsOffered: reader.strings("versions_offered"),
                    verification: reader.string("verification"), error: reader.string("error"),
                    alpn: reader.string("alpn"),
                    decrypted: reader.take("decrypted")?.boolValue))
        case .compress:
            return .compress(CompressEvent(algorithm: reader.string("algorithm") ?? "?"))
        case .gap:
            return .gap(
                GapEvent(
                    missing: Int(clamping: reader.int("missing") ?? 0),
                    skippedBytes: reader.int("skipped_bytes").map { Int(clamping: $0) },
                    skippedLines: reader.int("skipped_lines").map { Int(clamping: $0) }, raw: reader.string("raw")))
        case .unparsed:
            return .unparsed(
                UnparsedEvent(
                    tag: reader.string("tag"), name: reader.string("name"),
                    reason: reader.string("reason") ?? "", raw: reader.string("raw") ?? ""))
        case .lint:
            return .lint(
                LintEvent(
                    level: reader.string("level").flatMap(Lint.Level.init(rawValue:)) ?? .warning,
                    code: reader.string("code") ?? "?", message: reader.string("message") ?? ""))
        case .fault:
            return .fault(
                FaultEvent(
                    rule: try reader.require("rule"), action: try reader.require("action"), tag: reader.string("tag"),
                    command: reader.string("command"), detail: reader.string("detail") ?? ""))
        case .sessionEnd:
            var event = SessionEndEvent(
                reason: reader.string("reason") ?? "", state: reader.string("state"),
                commands: reader.int("commands").map { Int(clamping: $0) })
            event.durationMs = reader.take("duration_ms")?.doubleValue
            event.encryptedBytes = reader.counts("encrypted_bytes")
            event.mailbox = reader.take("mailbox")
            event.bytesAfterDeflateEnd = reader.counts("bytes_after_deflate_end")
            return .sessionEnd(event)
        }
    }
}

extension ResponseFields {
    fileprivate static func decode(_ reader: inout JSONFieldReader) -> ResponseFields {
        var fields = ResponseFields(
            code: reader.string("code"), codeArguments: reader.strings("code_arguments") ?? [],
            text: reader.string("text"))
        fields.truncated = reader.bool("truncated")
        fields.arguments = ArgumentFields(readBack: reader.rest)
        reader = JSONFieldReader([])
        return fields
    }
}
