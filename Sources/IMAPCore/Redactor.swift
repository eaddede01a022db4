import Crypto

/// The one place secrets are removed. Every source's events pass through `redact` before any
/// sink; a secret becomes a stable, irreversible marker (`‹redacted:1a2b3c4d›`): the same secret
/// gives the same marker within one run, through an HMAC keyed with a random per-run key.
public struct Redactor: Sendable {
    public let showSecrets: Bool
    private let key: [UInt8]

    /// `key` fixes the markers (tests); by default each run draws a fresh random one.
    public init(showSecrets: Bool = false, key: [UInt8]? = nil) {
        self.showSecrets = showSecrets
        self.key = key ?? SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
    }

    public func marker<C: Collection>(for secret: C) -> String where C.Element == UInt8 {
        let mac = HMAC<SHA256>.authenticationCode(for: Array(secret), using: SymmetricKey(data: key))
        return "‹redacted:\(Array(mac).prefix(4).hexString)›"
    }

    /// `wire`: also render the redacted wire bytes (`Event.wire`), for sinks that write bytes back out.
    public func redact(_ decoded: DecodedEvent, session: String, seq: Int, wire wantsWire: Bool = true) -> Event {
        var event = decoded
        return redact(taking: &event, session: session, seq: seq, wire: wantsWire)
    }

    /// Like `redact`, but moves the body out of `e` instead of copying it (the pipeline's path:
    /// it drops each decoded event once redacted). `e.body` is left a placeholder.
    public func redact(taking decoded: inout DecodedEvent, session: String, seq: Int, wire wantsWire: Bool = true)
        -> Event
    {
        var body = EventBody.idleDone(IdleDoneEvent(tag: ""))
        swap(&body, &decoded.body)
        var wire: [WirePiece]?
        let hideClient = !showSecrets && decoded.dir == .client
        if let line = decoded.line {
            let rendered: (text: String, wire: [WirePiece])
            if hideClient && !decoded.clientLineClassified {
                rendered = hiddenLine(bytes: decoded.bytes)
            } else {
                rendered = render(
                    line, secrets: decoded.secrets, whole: decoded.lineIsSecret, labels: decoded.literalLabels,
                    wire: wantsWire)
            }
            body.line = rendered.text
            wire = wantsWire ? rendered.wire : nil
        }
        switch body {
        case .unparsed(var unparsed) where hideClient:
            // An unparsed client line may be a secret the decoder could not delimit; sinks that
            // write wire bytes (the proxy's pcap) must not copy it either.
            unparsed.raw = hiddenLine(bytes: decoded.bytes).text
            body = .unparsed(unparsed)
            wire = hiddenLine(bytes: decoded.bytes).wire
        case .tagged(var tagged) where decoded.tagIsSecret && !showSecrets:
            tagged.tag = marker(for: Array(tagged.tag.utf8))
            body = .tagged(tagged)
        case .sasl(var sasl):
            if let payload = decoded.payload {
                sasl.payload =
                    showSecrets
                    ? printable(payload.bytes) : "\(marker(for: payload.bytes)) (\(payload.bytes.count) bytes)"
                body = .sasl(sasl)
            }
        default:
            break
        }
        let bytes = decoded.line != nil || decoded.bytes > 0 || body.kind == .unparsed ? decoded.bytes : nil
        return Event(
            session: session, seq: seq, time: decoded.time, dir: decoded.dir, body: body, bytes: bytes,
            annotation: decoded.annotation, wire: wire)
    }

    /// A client line the decoder could not classify: only its size is shown, and a sink that
    /// writes wire bytes writes filler of that length.
    func hiddenLine(bytes: Int) -> (text: String, wire: [WirePiece]) {
        let text = "‹hidden client line: \(bytes) bytes›"
        return (text, [.secret(marker: text, length: bytes)])
    }

    /// Renders a line for people (`line`) and as redacted wire pieces (fixtures).
    func render(_ line: RawLine, secrets: [SecretRef], whole: Bool, labels: [Int: String], wire wantsWire: Bool = true)
        -> (text: String, wire: [WirePiece])
    {
        if whole && !showSecrets {
            let textBytes = line.segments.flatMap(\.text)
            let secretMarker = marker(for: textBytes)
            var wire: [WirePiece] = [.secret(marker: secretMarker, length: textBytes.count)]
            if let end = line.segments.last?.ending, end != .none {
                wire.append(.bytes(end == .crlf ? [13, 10] : [10]))
            }
            return (secretMarker, wire)
        }
        // Most lines: one segment, no literal, nothing secret in it.
        if line.segments.count == 1, let seg = line.segments.first, seg.literal == nil,
            showSecrets || secrets.isEmpty
        {
            guard wantsWire else { return (printable(seg.text), []) }
            var bytes = seg.text
            bytes.append(contentsOf: seg.ending == .crlf ? [13, 10] : (seg.ending == .lf ? [10] : []))
            return (printable(seg.text), bytes.isEmpty ? [] : [.bytes(bytes)])
        }
        var text = ""
        var wire: [WirePiece] = []
        for (segmentIndex, seg) in line.segments.enumerated() {
            // Secret spans in this segment, in order.
            var spans = secrets.compactMap { ref -> Span? in
                if case .span(let span) = ref, span.segment == segmentIndex, !showSecrets { return span }
                return nil
            }.sorted { $0.start < $1.start }
            var literalSecret = false
            if seg.literal != nil, !showSecrets {
                literalSecret = secrets.contains(.literal(segment: segmentIndex))
            }
            var headerStart = seg.text.count
            if seg.literal != nil, let (_, at) = LiteralHeader.trailing(in: seg.text) { headerStart = at }
            let body = literalSecret ? Array(seg.text[..<headerStart]) : seg.text
            var cursor = 0
            var plain: [UInt8] = []
            spans = spans.filter { $0.start >= 0 && $0.end <= body.count && $0.start <= $0.end }
            for span in spans where span.start >= cursor {
                plain.append(contentsOf: body[cursor..<span.start])
                text += printable(plain)
                wire.append(.bytes(plain))
                plain = []
                let secretMarker = marker(for: body[span.start..<span.end])
                text += secretMarker
                wire.append(.secret(marker: secretMarker, length: span.end - span.start))
                cursor = span.end
            }
            plain.append(contentsOf: body[cursor...])
            text += printable(plain)
            if let lit = seg.literal {
                if literalSecret {
                    let secret = lit.content ?? lit.preview
                    let secretMarker = marker(for: secret)
                    wire.append(.bytes(plain))
                    wire.append(
                        .secretLiteral(
                            header: lit.header, headerLength: seg.text.count - headerStart, crlf: seg.ending == .crlf,
                            marker: secretMarker))
                    text += lit.header.text() + " " + secretMarker
                } else {
                    plain.append(contentsOf: seg.ending == .crlf ? [13, 10] : (seg.ending == .lf ? [10] : []))
                    if let content = lit.content {
                        plain.append(contentsOf: content)
                        wire.append(.bytes(plain))
                    } else {
                        wire.append(.bytes(plain))
                        wire.append(.elidedLiteral(size: lit.header.size, sha256: lit.sha256))
                    }
                    if showSecrets, secrets.contains(.literal(segment: segmentIndex)), let content = lit.content {
                        text += " ‹" + printable(content) + "›"
                    } else {
                        text += " " + summary(lit, label: labels[segmentIndex])
                    }
                }
            } else {
                plain.append(contentsOf: seg.ending == .crlf ? [13, 10] : (seg.ending == .lf ? [10] : []))
                wire.append(.bytes(plain))
            }
        }
        return (text, coalesce(wire))
    }

    /// `‹342 bytes, header›`, or the text itself for a short printable literal.
    func summary(_ lit: Literal, label: String?) -> String {
        if let content = lit.content, content.count <= 64, label == nil || label == "data",
            content.allSatisfy({ $0 >= 0x20 && $0 < 0x7F })
        {
            return "‹\(String(decoding: content, as: UTF8.self))›"
        }
        var text = "‹\(lit.header.size) bytes"
        if let label { text += ", \(label)" }
        if !lit.isComplete { text += ", only \(lit.received) received" }
        return text + "›"
    }

    private func coalesce(_ pieces: [WirePiece]) -> [WirePiece] {
        var out: [WirePiece] = []
        for piece in pieces {
            if case .bytes(let bytes) = piece, bytes.isEmpty { continue }
            if case .bytes(let bytes) = piece, case .bytes(let prev)? = out.last {
                out[out.count - 1] = .bytes(prev + bytes)
            } else {
                out.append(piece)
            }
        }
        return out
    }
}

/// Bytes as readable text: UTF-8 where valid, control characters as `\xNN`.
public func printable<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
    // Most wire text is printable ASCII: nothing to escape, nothing that could drive a terminal.
    if bytes.allSatisfy({ ($0 >= 0x20 && $0 < 0x7F) || $0 == 0x09 }) { return String(decoding: bytes, as: UTF8.self) }
    // One copy, then an index loop: iterating a generic collection costs a witness call per byte
    // and, in an unoptimized build (the fuzzers'), an allocation per byte.
    let copied = Array(bytes)
    var out = ""
    var run = 0
    var index = 0
    while index < copied.count {
        let byte = copied[index]
        if byte < 0x20 && byte != 0x09 || byte == 0x7F {
            if run < index { out += String(decoding: copied[run..<index], as: UTF8.self) }
            out += "\\x" + String(byte, radix: 16, uppercase: true).leftPad(2)
            run = index + 1
        }
        index += 1
    }
    if run < copied.count { out += String(decoding: copied[run...], as: UTF8.self) }
    return terminalSafe(out)
}

/// Text that cannot drive a terminal: C0 controls but tab, DEL, C1 controls (U+0080–U+009F,
/// 8-bit CSI among them) and the bidirectional overrides that reorder what is shown
/// (U+202A–U+202E, U+2066–U+2069) are escaped as `\xNN` / `\u{NNNN}`. Every text sink applies
/// it to whatever came off the wire: user and mailbox names, server text, reasons, annotations.
public func terminalSafe(_ text: String) -> String {
    func unsafe(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        return (value < 0x20 && value != 0x09) || (value >= 0x7F && value <= 0x9F) || (0x202A...0x202E).contains(value)
            || (0x2066...0x2069).contains(value)
    }
    guard text.unicodeScalars.contains(where: unsafe) else { return text }
    var out = String.UnicodeScalarView()
    for scalar in text.unicodeScalars {
        guard unsafe(scalar) else {
            out.append(scalar)
            continue
        }
        let esc =
            scalar.value < 0x80
            ? "\\x" + String(scalar.value, radix: 16, uppercase: true).leftPad(2)
            : "\\u{" + String(scalar.value, radix: 16, uppercase: true).leftPad(4) + "}"
        out.append(contentsOf: esc.unicodeScalars)
    }
    return String(out)
}

extension String {
    func leftPad(_ width: Int, with padding: Character = "0") -> String {
        count >= width ? self : String(repeating: padding, count: width - count) + self
    }
}
