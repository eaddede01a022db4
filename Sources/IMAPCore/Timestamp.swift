/// A point in time in microseconds since the Unix epoch. Captures give microsecond
/// resolution, and the event schema prints exactly that, so we never round-trip via Double.
public struct Timestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var microseconds: Int64

    public init(microseconds: Int64) { self.microseconds = microseconds }
    public init(seconds: Int64, microseconds: Int64 = 0) { self.microseconds = seconds * 1_000_000 + microseconds }

    public static let zero = Timestamp(microseconds: 0)

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.microseconds < rhs.microseconds }

    /// Milliseconds from `earlier` to `self`, with microsecond precision.
    public func milliseconds(since earlier: Timestamp) -> Double {
        Double(microseconds - earlier.microseconds) / 1000
    }

    /// RFC 3339 UTC with microseconds, e.g. `1999-11-11T21:55:27.546876Z`.
    public var rfc3339: String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(27)
        writeRFC3339(to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `2024-05-01T10:00:00.015284Z` appended as bytes, with no allocation of its own (JSON Lines
    /// writes one per event).
    public func writeRFC3339(to out: inout [UInt8]) {
        var secs = microseconds / 1_000_000
        var micros = microseconds % 1_000_000
        if micros < 0 {
            micros += 1_000_000
            secs -= 1
        }
        var days = secs / 86_400
        var rem = secs % 86_400
        if rem < 0 {
            rem += 86_400
            days -= 1
        }
        // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
        let shiftedDays = days + 719_468
        let era = (shiftedDays >= 0 ? shiftedDays : shiftedDays - 146_096) / 146_097
        let doe = shiftedDays - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        var year = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        if month <= 2 { year += 1 }
        if (0...9999).contains(year) {
            // The usual case: fixed widths, written into 27 bytes on the stack and appended once.
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 27) { text in
                func put(_ value: Int64, at end: Int, width: Int) {
                    var rest = value
                    for index in stride(from: end - 1, through: end - width, by: -1) {
                        text[index] = UInt8(ascii: "0") + UInt8(rest % 10)
                        rest /= 10
                    }
                }
                put(year, at: 4, width: 4)
                text[4] = UInt8(ascii: "-")
                put(month, at: 7, width: 2)
                text[7] = UInt8(ascii: "-")
                put(day, at: 10, width: 2)
                text[10] = UInt8(ascii: "T")
                put(rem / 3600, at: 13, width: 2)
                text[13] = UInt8(ascii: ":")
                put(rem / 60 % 60, at: 16, width: 2)
                text[16] = UInt8(ascii: ":")
                put(rem % 60, at: 19, width: 2)
                text[19] = UInt8(ascii: ".")
                put(micros, at: 26, width: 6)
                text[26] = UInt8(ascii: "Z")
                out.append(contentsOf: UnsafeBufferPointer(text))
            }
            return
        }
        func digits(_ value: Int64, _ width: Int) {
            if value < 0 {
                // A year before 1 BC (a corrupt capture's clock): a sign, then the usual width.
                out.append(UInt8(ascii: "-"))
                return digits(-value, width)
            }
            if value >= 10_000_000 {
                // Out of the usual range: as many digits as it takes, as String(v) writes them.
                let text = Array(String(value).utf8)
                if text.count < width {
                    out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: width - text.count))
                }
                out.append(contentsOf: text)
                return
            }
            var divisor: Int64 = 1
            var count = 1
            while divisor * 10 <= value {
                divisor *= 10
                count += 1
            }
            if count < width { out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: width - count)) }
            var rest = value
            while divisor > 0 {
                out.append(UInt8(ascii: "0") + UInt8(rest / divisor))
                rest %= divisor
                divisor /= 10
            }
        }
        digits(year, 4)
        out.append(UInt8(ascii: "-"))
        digits(month, 2)
        out.append(UInt8(ascii: "-"))
        digits(day, 2)
        out.append(UInt8(ascii: "T"))
        digits(rem / 3600, 2)
        out.append(UInt8(ascii: ":"))
        digits(rem / 60 % 60, 2)
        out.append(UInt8(ascii: ":"))
        digits(rem % 60, 2)
        out.append(UInt8(ascii: "."))
        digits(micros, 6)
        out.append(UInt8(ascii: "Z"))
    }

    /// Parses what `rfc3339` prints (and offsets other than Z, and fewer fraction digits).
    public init?(rfc3339 text: String) {
        let bytes = Array(text.utf8)
        func num(_ range: Range<Int>) -> Int64? {
            guard range.upperBound <= bytes.count else { return nil }
            var value: Int64 = 0
            for i in range {
                guard bytes[i] >= 48 && bytes[i] <= 57 else { return nil }
                value = value * 10 + Int64(bytes[i] - 48)
            }
            return value
        }
        guard bytes.count >= 20, let year = num(0..<4), let month = num(5..<7), let day = num(8..<10),
            let hour = num(11..<13), let minute = num(14..<16), let second = num(17..<19)
        else { return nil }
        var position = 19
        var micros: Int64 = 0
        if position < bytes.count && bytes[position] == UInt8(ascii: ".") {
            position += 1
            var digits = 0
            while position < bytes.count, bytes[position] >= 48, bytes[position] <= 57 {
                if digits < 6 {
                    micros = micros * 10 + Int64(bytes[position] - 48)
                    digits += 1
                }
                position += 1
            }
            while digits < 6 {
                micros *= 10
                digits += 1
            }
        }
        var offset: Int64 = 0
        if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") {
            guard let offsetHours = num(position + 1..<position + 3),
                let offsetMinutes = num(position + 4..<position + 6)
            else { return nil }
            offset = (offsetHours * 3600 + offsetMinutes * 60) * (bytes[position] == UInt8(ascii: "-") ? -1 : 1)
        } else if !(position < bytes.count
            && (bytes[position] == UInt8(ascii: "Z") || bytes[position] == UInt8(ascii: "z")))
        {
            return nil
        }
        // Days from civil (inverse of the above).
        let yy = month <= 2 ? year - 1 : year
        let era = (yy >= 0 ? yy : yy - 399) / 400
        let yoe = yy - era * 400
        let mp = month > 2 ? month - 3 : month + 9
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        self.microseconds = (days * 86_400 + hour * 3600 + minute * 60 + second - offset) * 1_000_000 + micros
    }

    public var description: String { rfc3339 }
}

/// Fixed-point formatting without Foundation.
public enum Decimal {
    public static func format(_ value: Double, _ decimals: Int) -> String {
        guard value.isFinite else { return "\(value)" }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = Int64((abs(value) * scale).rounded())
        let whole = scaled / Int64(scale)
        var text = (value < 0 && scaled != 0 ? "-" : "") + String(whole)
        if decimals > 0 {
            let frac = String(scaled % Int64(scale))
            text += "." + String(repeating: "0", count: decimals - frac.count) + frac
        }
        return text
    }
}
