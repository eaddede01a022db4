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
    public func redact(_ e: DecodedEvent, session: String, seq: Int, wire wantsWire: Bool = true) -> Event {
        var event = e
        return redact(taking: &event, session: session, seq: seq, wire: wantsWire)
    }

    /// Like `redact`, but moves the body out of `e` instead of copying it (the pipeline's path:
    /// it drops each decoded event once redacted). `e.body` is left a placeholder.
    public func redact(taking e: inout DecodedEvent, session: String, seq: Int, wire wantsWire: Bool = true) -> Event {
        var body = EventBody.idleDone(IdleDoneEvent(tag: ""))
        swap(&body, &e.body)
        var wire: [WirePiece]?
        let hideClient = !showSecrets && e.dir == .client
        if let line = e.line {
            let rendered: (text: String, wire: [WirePiece])
            if hideClient && !e.clientLineClassified {
                rendered = hiddenLine(bytes: e.bytes)
            } else {
                rendered = render(
                    line, secrets: e.secrets, whole: e.lineIsSecret, labels: e.literalLabels, wire: wantsWire)
            }
            body.line = rendered.text
            wire = wantsWire ? rendered.wire : nil
        }
        switch body {
        case .unparsed(var u) where hideClient:
            // An unparsed client line may be a secret the decoder could not delimit; sinks that
            // write wire bytes (the proxy's pcap) must not copy it either.
            u.raw = hiddenLine(bytes: e.bytes).text
            body = .unparsed(u)
            wire = hiddenLine(bytes: e.bytes).wire
        case .tagged(var t) where e.tagIsSecret && !showSecrets:
            t.tag = marker(for: Array(t.tag.utf8))
            body = .tagged(t)
        case .sasl(var s):
            if let p = e.payload {
                s.payload = showSecrets ? printable(p.bytes) : "\(marker(for: p.bytes)) (\(p.bytes.count) bytes)"
                body = .sasl(s)
            }
        default:
            break
        }
        let bytes = e.line != nil || e.bytes > 0 || body.kind == .unparsed ? e.bytes : nil
        return Event(
            session: session, seq: seq, time: e.time, dir: e.dir, body: body, bytes: bytes,
            annotation: e.annotation, wire: wire)
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
            let m = marker(for: textBytes)
            var wire: [WirePiece] = [.secret(marker: m, length: textBytes.count)]
            if let end = line.segments.last?.ending, end != .none {
                wire.append(.bytes(end == .crlf ? [13, 10] : [10]))
            }
            return (m, wire)
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
        for (i, seg) in line.segments.enumerated() {
            // Secret spans in this segment, in order.
            var spans = secrets.compactMap { ref -> Span? in
                if case .span(let s) = ref, s.segment == i, !showSecrets { return s }
                return nil
            }.sorted { $0.start < $1.start }
            var literalSecret = false
            if seg.literal != nil, !showSecrets {
                literalSecret = secrets.contains(.literal(segment: i))
            }
            var headerStart = seg.text.count
            if seg.literal != nil, let (_, at) = LiteralHeader.trailing(in: seg.text) { headerStart = at }
            let body = literalSecret ? Array(seg.text[..<headerStart]) : seg.text
            var cursor = 0
            var plain: [UInt8] = []
            spans = spans.filter { $0.start >= 0 && $0.end <= body.count && $0.start <= $0.end }
            for s in spans where s.start >= cursor {
                plain.append(contentsOf: body[cursor..<s.start])
                text += printable(plain)
                wire.append(.bytes(plain))
                plain = []
                let m = marker(for: body[s.start..<s.end])
                text += m
                wire.append(.secret(marker: m, length: s.end - s.start))
                cursor = s.end
            }
            plain.append(contentsOf: body[cursor...])
            text += printable(plain)
            if let lit = seg.literal {
                if literalSecret {
                    let secret = lit.content ?? lit.preview
                    let m = marker(for: secret)
                    wire.append(.bytes(plain))
                    wire.append(
                        .secretLiteral(
                            header: lit.header, headerLength: seg.text.count - headerStart, crlf: seg.ending == .crlf,
                            marker: m))
                    text += lit.header.text() + " " + m
                } else {
                    plain.append(contentsOf: seg.ending == .crlf ? [13, 10] : (seg.ending == .lf ? [10] : []))
                    if let c = lit.content {
                        plain.append(contentsOf: c)
                        wire.append(.bytes(plain))
                    } else {
                        wire.append(.bytes(plain))
                        wire.append(.elidedLiteral(size: lit.header.size, sha256: lit.sha256))
                    }
                    if showSecrets, secrets.contains(.literal(segment: i)), let c = lit.content {
                        text += " ‹" + printable(c) + "›"
                    } else {
                        text += " " + summary(lit, label: labels[i])
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
        if let c = lit.content, c.count <= 64, label == nil || label == "data",
            c.allSatisfy({ $0 >= 0x20 && $0 < 0x7F })
        {
            return "‹\(String(decoding: c, as: UTF8.self))›"
        }
        var s = "‹\(lit.header.size) bytes"
        if let l = label { s += ", \(l)" }
        if !lit.isComplete { s += ", only \(lit.received) received" }
        return s + "›"
    }

    private func coalesce(_ w: [WirePiece]) -> [WirePiece] {
        var out: [WirePiece] = []
        for p in w {
            if case .bytes(let b) = p, b.isEmpty { continue }
            if case .bytes(let b) = p, case .bytes(let prev)? = out.last {
                out[out.count - 1] = .bytes(prev + b)
            } else {
                out.append(p)
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
    let a = Array(bytes)
    var out = ""
    var run = 0
    var i = 0
    while i < a.count {
        let b = a[i]
        if b < 0x20 && b != 0x09 || b == 0x7F {
            if run < i { out += String(decoding: a[run..<i], as: UTF8.self) }
            out += "\\x" + String(b, radix: 16, uppercase: true).leftPad(2)
            run = i + 1
        }
        i += 1
    }
    if run < a.count { out += String(decoding: a[run...], as: UTF8.self) }
    return terminalSafe(out)
}

/// Text that cannot drive a terminal: C0 controls but tab, DEL, C1 controls (U+0080–U+009F,
/// 8-bit CSI among them) and the bidirectional overrides that reorder what is shown
/// (U+202A–U+202E, U+2066–U+2069) are escaped as `\xNN` / `\u{NNNN}`. Every text sink applies
/// it to whatever came off the wire: user and mailbox names, server text, reasons, annotations.
public func terminalSafe(_ s: String) -> String {
    func unsafe(_ u: Unicode.Scalar) -> Bool {
        let v = u.value
        return (v < 0x20 && v != 0x09) || (v >= 0x7F && v <= 0x9F) || (0x202A...0x202E).contains(v)
            || (0x2066...0x2069).contains(v)
    }
    guard s.unicodeScalars.contains(where: unsafe) else { return s }
    var out = String.UnicodeScalarView()
    for u in s.unicodeScalars {
        guard unsafe(u) else {
            out.append(u)
            continue
        }
        let esc =
            u.value < 0x80
            ? "\\x" + String(u.value, radix: 16, uppercase: true).leftPad(2)
            : "\\u{" + String(u.value, radix: 16, uppercase: true).leftPad(4) + "}"
        out.append(contentsOf: esc.unicodeScalars)
    }
    return String(out)
}

extension String {
    func leftPad(_ n: Int, with c: Character = "0") -> String {
        count >= n ? self : String(repeating: c, count: n - count) + self
    }
}
