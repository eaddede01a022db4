import Crypto

/// How a literal announces itself: RFC 9051 `{n}` waits for the server's `+`; RFC 7888 `{n+}`
/// (LITERAL+/LITERAL-) does not; `{n-}` is accepted as a non-waiting form some clients send;
/// RFC 3516 `~{n}` marks binary content.
public enum LiteralForm: String, Sendable, Hashable {
    case synchronizing = "sync"
    case nonSynchronizing = "non-sync"
    case minus = "minus"
}

public struct LiteralHeader: Sendable, Hashable {
    /// The largest non-synchronizing literal LITERAL- allows (RFC 7888 §4).
    public static let literalMinusLimit = 4096

    public var size: Int
    public var form: LiteralForm
    public var binary: Bool

    public init(size: Int, form: LiteralForm = .synchronizing, binary: Bool = false) {
        self.size = size
        self.form = form
        self.binary = binary
    }

    /// Whether a client must wait for a continuation request before sending the bytes.
    public var waitsForContinuation: Bool { form == .synchronizing }

    /// The header as it appears on the wire, e.g. `~{12+}`.
    public func text(size overriding: Int? = nil) -> String {
        let suffix: String
        switch form {
        case .synchronizing: suffix = ""
        case .nonSynchronizing: suffix = "+"
        case .minus: suffix = "-"
        }
        return (binary ? "~" : "") + "{\(overriding ?? size)\(suffix)}"
    }

    /// Recognises a literal header at the very end of `text` (just before the line break),
    /// unless that `{` sits inside a quoted string. Returns the header and where it starts.
    public static func trailing(in text: [UInt8]) -> (LiteralHeader, Int)? {
        guard let last = text.last, last == UInt8(ascii: "}") else { return nil }
        var position = text.count - 2
        var form = LiteralForm.synchronizing
        if position >= 0 && text[position] == UInt8(ascii: "+") {
            form = .nonSynchronizing
            position -= 1
        } else if position >= 0 && text[position] == UInt8(ascii: "-") {
            form = .minus
            position -= 1
        }
        let digitsEnd = position + 1
        while position >= 0, text[position] >= 48, text[position] <= 57 { position -= 1 }
        let digitsStart = position + 1
        guard digitsEnd > digitsStart, digitsEnd - digitsStart <= 18, position >= 0, text[position] == UInt8(ascii: "{")
        else {
            return nil
        }
        var start = position
        var binary = false
        if position >= 1 && text[position - 1] == UInt8(ascii: "~") {
            binary = true
            start = position - 1
        }
        // A `{` inside an unterminated quoted string is text, not a literal.
        var inQuote = false
        var j = 0
        while j < start {
            let byte = text[j]
            if inQuote && byte == UInt8(ascii: "\\") {
                j += 2
                continue
            }
            if byte == UInt8(ascii: "\"") { inQuote.toggle() }
            j += 1
        }
        if inQuote { return nil }
        var size = 0
        for k in digitsStart..<digitsEnd { size = size * 10 + Int(text[k] - 48) }
        return (LiteralHeader(size: size, form: form, binary: binary), start)
    }
}

/// A literal's body as the framer saw it stream past: never more than `retainLimit` bytes of
/// it are kept, so a 1 GB body costs a digest and a preview, not a gigabyte.
public struct Literal: Sendable {
    public var header: LiteralHeader
    /// Bytes actually received; less than `header.size` only when the stream ended inside it.
    public var received: Int
    /// Bytes of it a capture lost (counted in `received`, absent from the digest).
    public var lost: Int = 0
    /// The whole body when it was no larger than the retain limit.
    public var content: [UInt8]?
    /// The first bytes of the body.
    public var preview: [UInt8]
    /// Lower-case hex SHA-256 of the received bytes.
    public var sha256: String

    public var isComplete: Bool { received == header.size }
}

/// Accumulates one literal body chunk by chunk.
struct LiteralAccumulator: @unchecked Sendable {  // SHA256 is a value type without a Sendable mark
    let header: LiteralHeader
    let retainLimit: Int
    let previewLength: Int
    let digests: Bool
    var received = 0
    var content: [UInt8] = []
    var hasher = SHA256()

    init(header: LiteralHeader, retainLimit: Int, previewLength: Int, digests: Bool = true) {
        self.header = header
        self.retainLimit = retainLimit
        self.previewLength = previewLength
        self.digests = digests
        if header.size <= retainLimit { content.reserveCapacity(header.size) }
    }

    var remaining: Int { header.size - received }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        if digests { hasher.update(bufferPointer: bytes) }
        if header.size <= retainLimit {
            content.append(contentsOf: bytes)
        } else if content.count < previewLength {
            content.append(contentsOf: bytes.prefix(previewLength - content.count))
        }
        received += bytes.count
    }

    /// Bytes lost in a capture: counted, not hashed, so the digest marks the body as damaged.
    var lost = 0
    mutating func skip(_ count: Int) {
        received += count
        lost += count
    }

    func finish() -> Literal {
        let digest = digests ? hasher.finalize().hexString : ""
        let full = header.size <= retainLimit && received == header.size && lost == 0
        return Literal(
            header: header, received: received, lost: lost,
            content: full ? content : nil,
            preview: Array(content.prefix(previewLength)),
            sha256: digest)
    }
}

extension Sequence where Element == UInt8 {
    var hexString: String {
        let hex = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in self {
            out.append(hex[Int(byte >> 4)])
            out.append(hex[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
