/// The responses a syncing client sees most — `* 12 FETCH (UID 12 FLAGS (\Seen) MODSEQ (9))`,
/// `* SEARCH 1 3 6` — decoded straight from the line's bytes, without the generic syntax tree. Anything
/// else (a literal, a section, ENVELOPE, a quoted string, an odd number) returns nil and takes the
/// general path, which gives the same fields for every line these accept (`SimpleResponsesTests`).
enum SimpleResponses {
    // msg-att = "(" (msg-att-dynamic / msg-att-static) *(SP (msg-att-dynamic / msg-att-static)) ")"
    // msg-att-dynamic = "FLAGS" SP "(" [flag-fetch *(SP flag-fetch)] ")"
    // msg-att-static =/ "UID" SP uniqueid / "RFC822.SIZE" SP number
    // fetch-mod-resp = "MODSEQ" SP "(" permsg-modsequence ")"   (RFC 7162)
    /// The `attributes` object of `* n FETCH` whose attribute list starts at `start` (the `(`), when
    /// the list is all of the line and holds only these attributes.
    static func fetchAttributes(_ text: [UInt8], from start: Int) -> JSONValue? {
        text.withUnsafeBufferPointer { bytes -> JSONValue? in
            var position = start
            guard position < bytes.count, bytes[position] == UInt8(ascii: "(") else { return nil }
            position += 1
            var attributes: [(String, JSONValue)] = []
            attributes.reserveCapacity(4)
            while true {
                guard let (name, afterName) = attributeName(bytes, at: position), afterName < bytes.count,
                    bytes[afterName] == UInt8(ascii: " ")
                else { return nil }
                position = afterName + 1
                switch name {
                case "FLAGS":
                    guard let (flags, next) = flagList(bytes, at: position) else { return nil }
                    attributes.append((name, .array(flags)))
                    position = next
                case "MODSEQ":
                    guard position < bytes.count, bytes[position] == UInt8(ascii: "("),
                        let (value, next) = number(bytes, at: position + 1), next < bytes.count,
                        bytes[next] == UInt8(ascii: ")")
                    else { return nil }
                    attributes.append((name, .int(Int64(clamping: value))))
                    position = next + 1
                default:
                    guard let (value, next) = number(bytes, at: position) else { return nil }
                    attributes.append((name, .int(Int64(clamping: value))))
                    position = next
                }
                guard position < bytes.count else { return nil }
                if bytes[position] == UInt8(ascii: ")") {
                    return position + 1 == bytes.count ? .object(attributes) : nil
                }
                guard bytes[position] == UInt8(ascii: " ") else { return nil }
                position += 1
            }
        }
    }

    // mailbox-data =/ "SEARCH" *(SP nz-number) ; sort-data = "SORT" *(SP nz-number)
    /// The numbers of `* SEARCH` or `* SORT` whose name ends at `start`, when only numbers follow
    /// (no MODSEQ).
    static func searchResults(_ text: [UInt8], from start: Int) -> [JSONValue]? {
        text.withUnsafeBufferPointer { bytes -> [JSONValue]? in
            var numbers: [JSONValue] = []
            numbers.reserveCapacity((bytes.count - start) / 2)
            var position = start
            while position < bytes.count {
                guard bytes[position] == UInt8(ascii: " "), let (value, next) = number(bytes, at: position + 1) else {
                    return nil
                }
                numbers.append(.int(Int64(clamping: value)))
                position = next
            }
            return numbers
        }
    }

    /// UID, RFC822.SIZE, FLAGS or MODSEQ in any case, as upper case.
    private static func attributeName(_ bytes: UnsafeBufferPointer<UInt8>, at start: Int) -> (String, Int)? {
        var end = start
        while end < bytes.count, bytes[end] != UInt8(ascii: " "), end - start < 12 { end += 1 }
        let name: StaticString
        let string: String
        switch end - start {
        case 3: (name, string) = ("UID", "UID")
        case 5: (name, string) = ("FLAGS", "FLAGS")
        case 6: (name, string) = ("MODSEQ", "MODSEQ")
        case 11: (name, string) = ("RFC822.SIZE", "RFC822.SIZE")
        default: return nil
        }
        for k in 0..<(end - start) {
            let byte = bytes[start + k]
            guard (byte >= 97 && byte <= 122 ? byte - 32 : byte) == name.utf8Start[k] else { return nil }
        }
        return (string, end)
    }

    /// 1 to 19 decimal digits without a leading zero (or a lone 0).
    private static func number(_ bytes: UnsafeBufferPointer<UInt8>, at start: Int) -> (UInt64, Int)? {
        var position = start
        var value: UInt64 = 0
        while position < bytes.count, bytes[position] >= 48, bytes[position] <= 57 {
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(UInt64(bytes[position] - 48))
            guard !o1, !o2 else { return nil }
            value = sum
            position += 1
        }
        // The general tokenizer reads at most 19 digits as a number.
        guard position > start, position - start <= 19, !(bytes[start] == 48 && position - start > 1) else {
            return nil
        }
        return (value, position)
    }

    /// `(\Seen $Label)`: system flags and keywords made of letters, digits and `$ _ - .` only.
    private static func flagList(_ bytes: UnsafeBufferPointer<UInt8>, at start: Int) -> ([JSONValue], Int)? {
        guard start < bytes.count, bytes[start] == UInt8(ascii: "(") else { return nil }
        var position = start + 1
        var flags: [JSONValue] = []
        flags.reserveCapacity(4)
        if position < bytes.count, bytes[position] == UInt8(ascii: ")") { return (flags, position + 1) }
        while position < bytes.count {
            let flagStart = position
            if bytes[position] == UInt8(ascii: "\\") { position += 1 }
            let nameStart = position
            while position < bytes.count, isFlagByte(bytes[position]) { position += 1 }
            guard position > nameStart, position < bytes.count else { return nil }
            flags.append(
                .string(String(decoding: UnsafeBufferPointer(rebasing: bytes[flagStart..<position]), as: UTF8.self)))
            if bytes[position] == UInt8(ascii: ")") { return (flags, position + 1) }
            guard bytes[position] == UInt8(ascii: " ") else { return nil }
            position += 1
        }
        return nil
    }

    private static func isFlagByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "$"), UInt8(ascii: "_"), UInt8(ascii: "-"),
            UInt8(ascii: "."):
            return true
        default: return false
        }
    }
}
