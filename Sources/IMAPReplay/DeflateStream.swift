import CompressNIO
import NIOCore

/// One direction of RFC 4978 COMPRESS=DEFLATE: raw DEFLATE (RFC 1951, no zlib header).
/// The sender flushes (Z_SYNC_FLUSH) after every write so the peer can act on each response.
final class DeflateStream {
    private let compressor: NIOCompressor?
    private let decompressor: NIODecompressor?
    private var window = ByteBufferAllocator().buffer(capacity: 64 * 1024)

    enum Role { case compress, decompress }

    init(_ role: Role) throws {
        switch role {
        case .compress:
            let deflater = CompressionAlgorithm.deflate().compressor
            try deflater.startStream()
            compressor = deflater
            decompressor = nil
        case .decompress:
            let inflater = CompressionAlgorithm.deflate().decompressor
            try inflater.startStream()
            decompressor = inflater
            compressor = nil
        }
    }

    deinit {
        try? compressor?.finishStream()
        try? decompressor?.finishStream()
    }

    /// Compressed bytes for `bytes`, flushed so they can be decoded at once.
    func compress(_ bytes: [UInt8]) throws -> [UInt8] {
        guard let compressor else { return bytes }
        var input = ByteBuffer(bytes: bytes)
        // deflateBound plus the sync flush's empty block: one call always fits.
        var output = ByteBufferAllocator().buffer(capacity: compressor.maxSize(from: input) + 64)
        try compressor.streamDeflate(from: &input, to: &output, flush: .sync)
        return Array(output.readableBytesView)
    }

    /// Inflated bytes for compressed input; throws on a corrupt stream.
    func decompress(_ bytes: [UInt8]) throws -> [UInt8] {
        var out: [UInt8] = []
        try decompress(bytes) { out += $0 }
        return out
    }

    /// Inflates window by window (64 KiB), handing each to `body`, so a small input that
    /// inflates to gigabytes never sits in memory at once.
    func decompress(_ bytes: [UInt8], _ body: ([UInt8]) throws -> Void) throws {
        guard let decompressor else { return try body(bytes) }
        var input = ByteBuffer(bytes: bytes)
        while input.readableBytes > 0 {
            window.clear()
            let before = input.readableBytes
            do {
                try decompressor.streamInflate(from: &input, to: &window)
            } catch let overflow as CompressNIOError where overflow == .bufferOverflow {
                // The window is full; hand it on and go on.
            }
            if window.readableBytes > 0 { try body(Array(window.readableBytesView)) }
            if input.readableBytes == before && window.readableBytes == 0 { break }
        }
    }
}
