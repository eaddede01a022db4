/// A JSON value whose objects keep their key order, so output is stable and readable
/// (`session`, `seq`, `time`, `kind` first) and a reader can round-trip it exactly.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.int(let x), .int(let y)): return x == y
        case (.double(let x), .double(let y)): return x == y
        case (.int(let x), .double(let y)), (.double(let y), .int(let x)): return Double(x) == y
        case (.string(let x), .string(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.object(let lhsFields), .object(let rhsFields)):
            return lhsFields.count == rhsFields.count
                && zip(lhsFields, rhsFields).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null: hasher.combine(0)
        case .bool(let b): hasher.combine(b)
        case .int(let i): hasher.combine(Double(i))
        case .double(let d): hasher.combine(d)
        case .string(let s): hasher.combine(s)
        case .array(let a): hasher.combine(a)
        case .object(let fields):
            for (key, value) in fields {
                hasher.combine(key)
                hasher.combine(value)
            }
        }
    }

    public subscript(key: String) -> JSONValue? {
        // An index loop: `first(where:)` costs a closure context and, unoptimized, an allocation per
        // element, and every reader of an event asks for its fields by name.
        guard case .object(let fields) = self else { return nil }
        var index = 0
        while index < fields.count {
            if fields[index].0 == key { return fields[index].1 }
            index += 1
        }
        return nil
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }
    public var intValue: Int64? {
        switch self {
        case .int(let i): return i
        // `exactly`: a whole number beyond Int64 (`"seq":1e300`, 86 digits of `4`) or an infinity is
        // no integer here; `Int64(d)` trapped on it (FuzzJSONLines, Fuzz/Regressions/FuzzJSONLines).
        case .double(let d): return Int64(exactly: d)
        default: return nil
        }
    }
    public var doubleValue: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }
    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }
    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }
    public var objectValue: [(String, JSONValue)]? {
        if case .object(let o) = self { return o }
        return nil
    }

    /// Compact JSON text (one line, no spaces), with non-ASCII left as UTF-8.
    public var serialized: String {
        var out: [UInt8] = []
        out.reserveCapacity(128)
        write(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    public func write(to out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .int(let i): JSONValue.writeInt(i, to: &out)
        case .double(let number):
            if number.isFinite {
                if number == number.rounded() && abs(number) < 1e15 {
                    out.append(contentsOf: String(Int64(number)).utf8)
                    out.append(contentsOf: ".0".utf8)
                } else {
                    out.append(contentsOf: "\(number)".utf8)
                }
            } else {
                out.append(contentsOf: "null".utf8)
            }
        case .string(let s): JSONValue.writeString(s, to: &out)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                element.write(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let fields):
            out.append(UInt8(ascii: "{"))
            for (index, (key, value)) in fields.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                JSONValue.writeString(key, to: &out)
                out.append(UInt8(ascii: ":"))
                value.write(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// Decimal digits, without building a String.
    static func writeInt<I: BinaryInteger>(_ value: I, to out: inout [UInt8]) {
        guard let signed = Int64(exactly: value) else { return out.append(contentsOf: String(value).utf8) }
        if signed < 0 { out.append(UInt8(ascii: "-")) }
        var magnitude = signed.magnitude
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var count = 0
            repeat {
                digits[19 - count] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                count += 1
            } while magnitude > 0
            out.append(contentsOf: UnsafeBufferPointer(rebasing: digits[(20 - count)...]))
        }
    }

    static func writeString(_ string: String, to out: inout [UInt8]) {
        var text = string
        text.withUTF8 { writeString(bytes: $0, to: &out) }
    }

    /// A string's UTF-8 bytes, quoted and escaped. Runs that need no escape (most of a line: an IMAP
    /// flag's backslash is the usual exception) are copied in one go.
    static func writeString(bytes: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var runStart = 0
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            guard byte < 0x20 || byte == 0x22 || byte == 0x5C || byte == 0x7F else {
                index += 1
                continue
            }
            if runStart < index { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index])) }
            out.append(UInt8(ascii: "\\"))
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): out.append(byte)
            case 0x0A: out.append(UInt8(ascii: "n"))
            case 0x0D: out.append(UInt8(ascii: "r"))
            case 0x09: out.append(UInt8(ascii: "t"))
            default:
                out.append(contentsOf: "u00".utf8)
                out.append(hexDigit(byte >> 4))
                out.append(hexDigit(byte & 15))
            }
            index += 1
            runStart = index
        }
        if runStart < bytes.count { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart...])) }
        out.append(UInt8(ascii: "\""))
    }

    private static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
    }
}

/// A small strict JSON parser (RFC 8259) that keeps object key order.
public struct JSONParser {
    public struct Error: Swift.Error, CustomStringConvertible {
        public var offset: Int
        public var message: String
        public var description: String { "\(message) at offset \(offset)" }
    }

    private let input: [UInt8]
    private var position = 0
    private var depth = 0

    public static func parse(_ text: String) throws -> JSONValue { try parse(Array(text.utf8)) }

    public static func parse(_ bytes: [UInt8]) throws -> JSONValue {
        var parser = JSONParser(input: bytes)
        parser.skipSpace()
        let value = try parser.value()
        parser.skipSpace()
        guard parser.position == parser.input.count else {
            throw Error(offset: parser.position, message: "trailing characters")
        }
        return value
    }

    private init(input: [UInt8]) { self.input = input }

    private mutating func skipSpace() {
        while position < input.count,
            input[position] == 0x20 || input[position] == 0x09 || input[position] == 0x0A || input[position] == 0x0D
        { position += 1 }
    }

    private mutating func value() throws -> JSONValue {
        guard position < input.count else { throw Error(offset: position, message: "unexpected end") }
        switch input[position] {
        case UInt8(ascii: "{"):
            depth += 1
            guard depth < 512 else { throw Error(offset: position, message: "nesting too deep") }
            defer { depth -= 1 }
            position += 1
            skipSpace()
            var fields: [(String, JSONValue)] = []
            if position < input.count, input[position] == UInt8(ascii: "}") {
                position += 1
                return .object(fields)
            }
            while true {
                skipSpace()
                guard position < input.count, input[position] == UInt8(ascii: "\"") else {
                    throw Error(offset: position, message: "expected a key")
                }
                let key = try string()
                skipSpace()
                guard position < input.count, input[position] == UInt8(ascii: ":") else {
                    throw Error(offset: position, message: "expected ':'")
                }
                position += 1
                skipSpace()
                fields.append((key, try value()))
                skipSpace()
                guard position < input.count else { throw Error(offset: position, message: "unexpected end") }
                if input[position] == UInt8(ascii: ",") {
                    position += 1
                    continue
                }
                if input[position] == UInt8(ascii: "}") {
                    position += 1
                    return .object(fields)
                }
                throw Error(offset: position, message: "expected ',' or '}'")
            }
        case UInt8(ascii: "["):
            depth += 1
            guard depth < 512 else { throw Error(offset: position, message: "nesting too deep") }
            defer { depth -= 1 }
            position += 1
            skipSpace()
            var elements: [JSONValue] = []
            if position < input.count, input[position] == UInt8(ascii: "]") {
                position += 1
                return .array(elements)
            }
            while true {
                skipSpace()
                elements.append(try value())
                skipSpace()
                guard position < input.count else { throw Error(offset: position, message: "unexpected end") }
                if input[position] == UInt8(ascii: ",") {
                    position += 1
                    continue
                }
                if input[position] == UInt8(ascii: "]") {
                    position += 1
                    return .array(elements)
                }
                throw Error(offset: position, message: "expected ',' or ']'")
            }
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"):
            try literal("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try literal("null")
            return .null
        default: return try number()
        }
    }

    private mutating func literal(_ word: String) throws {
        let expected = Array(word.utf8)
        guard position + expected.count <= input.count, Array(input[position..<position + expected.count]) == expected
        else {
            throw Error(offset: position, message: "unexpected token")
        }
        position += expected.count
    }

    private mutating func number() throws -> JSONValue {
        let start = position
        if position < input.count, input[position] == UInt8(ascii: "-") { position += 1 }
        var isInt = true
        while position < input.count {
            let byte = input[position]
            if byte >= 48 && byte <= 57 {
                position += 1
                continue
            }
            if byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E")
                || byte == UInt8(ascii: "+")
                || byte == UInt8(ascii: "-")
            {
                isInt = false
                position += 1
                continue
            }
            break
        }
        let text = String(decoding: input[start..<position], as: UTF8.self)
        if isInt, let integer = Int64(text) { return .int(integer) }
        if let double = Double(text) { return .double(double) }
        throw Error(offset: start, message: "invalid number")
    }

    private mutating func hex4() throws -> UInt32 {
        guard position + 4 <= input.count else { throw Error(offset: position, message: "short \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let digit = input[position]
            position += 1
            switch digit {
            case 48...57: value = value << 4 | UInt32(digit - 48)
            case 65...70: value = value << 4 | UInt32(digit - 55)
            case 97...102: value = value << 4 | UInt32(digit - 87)
            default: throw Error(offset: position - 1, message: "bad \\u escape")
            }
        }
        return value
    }

    private mutating func string() throws -> String {
        position += 1
        // Most strings hold no escape: decoded from the input in one piece, not a byte at a time.
        let start = position
        while position < input.count, input[position] != UInt8(ascii: "\""), input[position] != UInt8(ascii: "\\") {
            position += 1
        }
        if position < input.count, input[position] == UInt8(ascii: "\"") {
            position += 1
            return String(decoding: input[start..<(position - 1)], as: UTF8.self)
        }
        var out = Array(input[start..<position])
        while true {
            guard position < input.count else { throw Error(offset: position, message: "unterminated string") }
            let byte = input[position]
            position += 1
            if byte == UInt8(ascii: "\"") { break }
            if byte != UInt8(ascii: "\\") {
                out.append(byte)
                continue
            }
            guard position < input.count else { throw Error(offset: position, message: "unterminated escape") }
            let escaped = input[position]
            position += 1
            switch escaped {
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if scalar >= 0xD800 && scalar < 0xDC00, position + 6 <= input.count,
                    input[position] == UInt8(ascii: "\\"),
                    input[position + 1] == UInt8(ascii: "u")
                {
                    // Combined only with a low surrogate: `\udbee\udbee` overflowed here (FuzzJSONLines).
                    // Otherwise the high one alone is U+FFFD and the next escape stands on its own.
                    let next = position
                    position += 2
                    let low = try hex4()
                    if low >= 0xDC00 && low < 0xE000 {
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else {
                        position = next
                    }
                }
                let unicodeScalar = Unicode.Scalar(scalar) ?? "\u{FFFD}"
                out.append(contentsOf: String(Character(unicodeScalar)).utf8)
            default: out.append(escaped)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
