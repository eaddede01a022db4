import CompressNIO
import NIOCore

/// Raw DEFLATE (RFC 1951, as RFC 4978 COMPRESS=DEFLATE uses it) inflated chunk by chunk.
/// Public for the proxy's `--pcap`, which writes what it relayed after COMPRESS inflated.
public final class DeflateInflater {
    private let decompressor: NIODecompressor
    private var window = ByteBufferAllocator().buffer(capacity: 64 * 1024)

    public init() throws {
        decompressor = CompressionAlgorithm.deflate().decompressor
        try decompressor.startStream()
    }

    deinit { try? decompressor.finishStream() }

    /// Bytes that arrived after the DEFLATE stream's final block (a peer that ends the stream
    /// at LOGOUT, then closes); they are not IMAP and are only counted.
    public private(set) var bytesAfterEnd = 0
    private var ended = false

    /// Throws `CompressNIOError.corruptData` on a damaged stream.
    public func inflate(_ bytes: [UInt8]) throws -> [UInt8] {
        if ended {
            bytesAfterEnd += bytes.count
            return []
        }
        var input = ByteBuffer(bytes: bytes)
        var out: [UInt8] = []
        while input.readableBytes > 0 {
            window.clear()
            let before = input.readableBytes
            do {
                try input.decompressStream(to: &window, with: decompressor)
            } catch let failure as CompressNIOError where failure == .bufferOverflow {
                // The window is full; take it and go on.
            }
            out.append(contentsOf: window.readableBytesView)
            if input.readableBytes == before && window.readableBytes == 0 {
                ended = true
                bytesAfterEnd += input.readableBytes
                break
            }
        }
        return out
    }
}
