/// Base64 (RFC 4648) for SASL payloads; lenient about missing padding when asked.
public enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let table: [Int8] = {
        var lookup = [Int8](repeating: -1, count: 256)
        for (i, symbol) in alphabet.enumerated() { lookup[Int(symbol)] = Int8(i) }
        return lookup
    }()

    public static func decode(_ text: String, padded: Bool = true) -> [UInt8]? {
        var out: [UInt8] = []
        var acc: UInt32 = 0
        var bits = 0
        var pad = 0
        var count = 0
        for byte in text.utf8 {
            if byte == UInt8(ascii: "=") {
                pad += 1
                count += 1
                continue
            }
            guard pad == 0 else { return nil }
            let value = table[Int(byte)]
            guard value >= 0 else { return nil }
            acc = acc << 6 | UInt32(value)
            bits += 6
            count += 1
            if bits >= 8 {
                bits -= 8
                out.append(UInt8((acc >> UInt32(bits)) & 0xFF))
            }
        }
        if padded && count % 4 != 0 { return nil }
        return out
    }

    public static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        var position = 0
        while position + 2 < bytes.count {
            let group = UInt32(bytes[position]) << 16 | UInt32(bytes[position + 1]) << 8 | UInt32(bytes[position + 2])
            out += [
                alphabet[Int(group >> 18)], alphabet[Int(group >> 12 & 63)], alphabet[Int(group >> 6 & 63)],
                alphabet[Int(group & 63)],
            ]
            position += 3
        }
        let rem = bytes.count - position
        if rem == 1 {
            let group = UInt32(bytes[position]) << 16
            out += [alphabet[Int(group >> 18)], alphabet[Int(group >> 12 & 63)], UInt8(ascii: "="), UInt8(ascii: "=")]
        } else if rem == 2 {
            let group = UInt32(bytes[position]) << 16 | UInt32(bytes[position + 1]) << 8
            out += [
                alphabet[Int(group >> 18)], alphabet[Int(group >> 12 & 63)], alphabet[Int(group >> 6 & 63)],
                UInt8(ascii: "="),
            ]
        }
        return String(decoding: out, as: UTF8.self)
    }
}
