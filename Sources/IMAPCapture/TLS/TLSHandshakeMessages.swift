/// The handshake messages a passive decryptor reads (RFC 8446 §4, RFC 5246 §7.4): what the
/// hellos say in the clear, and ALPN in TLS 1.3's EncryptedExtensions.
enum TLSHandshakeType {
    static let clientHello: UInt8 = 1
    static let serverHello: UInt8 = 2
    static let newSessionTicket: UInt8 = 4
    static let encryptedExtensions: UInt8 = 8
    static let finished: UInt8 = 20
    static let keyUpdate: UInt8 = 24
}

/// Reads big-endian fields off a slice, failing softly (nil) past its end.
struct TLSByteReader {
    private let bytes: ArraySlice<UInt8>
    private(set) var index: Int
    init(_ slice: ArraySlice<UInt8>) {
        bytes = slice
        index = slice.startIndex
    }
    var remaining: Int { bytes.endIndex - index }

    mutating func u8() -> Int? {
        guard index < bytes.endIndex else { return nil }
        defer { index += 1 }
        return Int(bytes[index])
    }
    mutating func u16() -> Int? {
        guard let high = u8(), let low = u8() else { return nil }
        return high << 8 | low
    }
    mutating func take(_ count: Int) -> ArraySlice<UInt8>? {
        guard count >= 0, count <= remaining else { return nil }
        defer { index += count }
        return bytes[index..<index + count]
    }
    /// An opaque vector with a length prefix of `width` bytes.
    mutating func vector(_ width: Int) -> ArraySlice<UInt8>? {
        let length = width == 1 ? u8() : u16()
        return length.flatMap { take($0) }
    }
    /// Extensions as (type, body) pairs.
    mutating func extensions() -> [(Int, ArraySlice<UInt8>)] {
        guard let all = vector(2) else { return [] }
        var reader = TLSByteReader(all)
        var out: [(Int, ArraySlice<UInt8>)] = []
        while let extensionType = reader.u16(), let body = reader.vector(2) { out.append((extensionType, body)) }
        return out
    }
}

struct TLSClientHelloInfo: Equatable {
    var random: [UInt8]
    var serverName: String?
    var alpn: [String] = []
    var versions: [UInt16] = []
}

struct TLSServerHelloInfo: Equatable {
    var random: [UInt8]
    var version: UInt16
    var cipherSuite: UInt16
    var alpn: String?
    var encryptThenMAC = false
    /// RFC 8446 §4.1.3: a ServerHello with this random is a HelloRetryRequest.
    var isHelloRetryRequest: Bool {
        random == [
            0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
            0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
        ]
    }
}

enum TLSHandshakeParser {
    static let sni = 0, alpn = 16, encryptThenMAC = 22, supportedVersions = 43

    static func alpnList(_ body: ArraySlice<UInt8>) -> [String] {
        var reader = TLSByteReader(body)
        guard let list = reader.vector(2) else { return [] }
        var listReader = TLSByteReader(list)
        var out: [String] = []
        while let name = listReader.vector(1) { out.append(String(decoding: name, as: UTF8.self)) }
        return out
    }

    static func clientHello(_ body: ArraySlice<UInt8>) -> TLSClientHelloInfo? {
        var reader = TLSByteReader(body)
        guard reader.u16() != nil, let random = reader.take(32), reader.vector(1) != nil, reader.vector(2) != nil,
            reader.vector(1) != nil
        else { return nil }
        var hello = TLSClientHelloInfo(random: Array(random))
        for (type, ext) in reader.extensions() {
            var extensionReader = TLSByteReader(ext)
            switch type {
            case sni:
                if let list = extensionReader.vector(2) {
                    var listReader = TLSByteReader(list)
                    if listReader.u8() == 0, let name = listReader.vector(2) {
                        hello.serverName = String(decoding: name, as: UTF8.self)
                    }
                }
            case alpn: hello.alpn = alpnList(ext)
            case supportedVersions:
                if let list = extensionReader.vector(1) {
                    var listReader = TLSByteReader(list)
                    while let version = listReader.u16() { hello.versions.append(UInt16(version)) }
                }
            default: break
            }
        }
        return hello
    }

    static func serverHello(_ body: ArraySlice<UInt8>) -> TLSServerHelloInfo? {
        var reader = TLSByteReader(body)
        guard let legacy = reader.u16(), let random = reader.take(32), reader.vector(1) != nil,
            let suite = reader.u16(), reader.u8() != nil
        else { return nil }
        var hello = TLSServerHelloInfo(random: Array(random), version: UInt16(legacy), cipherSuite: UInt16(suite))
        for (type, ext) in reader.extensions() {
            var extensionReader = TLSByteReader(ext)
            switch type {
            case supportedVersions: if let version = extensionReader.u16() { hello.version = UInt16(version) }
            case alpn: hello.alpn = alpnList(ext).first
            case encryptThenMAC: hello.encryptThenMAC = true
            default: break
            }
        }
        return hello
    }

    /// The protocol the server chose, from TLS 1.3's EncryptedExtensions.
    static func encryptedExtensionsALPN(_ body: ArraySlice<UInt8>) -> String? {
        var reader = TLSByteReader(body)
        for (type, ext) in reader.extensions() where type == alpn { return alpnList(ext).first }
        return nil
    }
}

/// Handshake messages out of a direction's handshake records: a message may span records and a
/// record may hold several (RFC 8446 §5.1). Bounded: a message over `maxMessage` stops it.
struct TLSHandshakeAssembler {
    static let maxMessage = 256 * 1024
    private var buffer: [UInt8] = []
    private(set) var overflowed = false

    /// Appends a record's handshake bytes; returns the whole messages now complete.
    mutating func append(_ bytes: [UInt8]) -> [(type: UInt8, body: ArraySlice<UInt8>)] {
        guard !overflowed else { return [] }
        buffer += bytes
        var out: [(UInt8, ArraySlice<UInt8>)] = []
        var offset = 0
        while buffer.count - offset >= 4 {
            let length = Int(buffer[offset + 1]) << 16 | Int(buffer[offset + 2]) << 8 | Int(buffer[offset + 3])
            guard length <= Self.maxMessage else {
                overflowed = true
                buffer = []
                return out
            }
            guard buffer.count - offset - 4 >= length else { break }
            out.append((buffer[offset], buffer[(offset + 4)..<(offset + 4 + length)]))
            offset += 4 + length
        }
        let messages = out.map { ($0.0, ArraySlice(Array($0.1))) }
        buffer.removeFirst(offset)
        return messages
    }
}
