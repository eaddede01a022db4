import IMAPCore

#if canImport(Glibc)
    import Glibc
#endif

/// An `S:`/`C:` transcript decoded as one session, the way `imapscope read` decodes it (and the
/// tests with it): fed the file in blocks, it reads lines with `TranscriptReader` and feeds their
/// bytes to a `SessionDecoder`, publishing events as they come. Memory stays flat whatever the
/// transcript's size: the first `headSize` bytes, one line (`lineLimit`), the decoder's bounded state.
public final class TranscriptDecoding {
    public static let blockSize = 64 * 1024
    /// The start of a transcript, read before decoding begins: it is an exact fixture if it holds
    /// a CR (RFC 3501 §8 samples otherwise), written inflated after COMPRESS if it holds the
    /// `# imapscope: decompressed` directive (which also counts when it streams by later, before
    /// the COMPRESS completion is decoded: `FixtureWriter` writes it right after).
    public static let headSize = 64 * 1024

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    public let name: String
    public let session: String
    public private(set) var warnings: [String] = []
    private let options: DecoderOptions
    private let time: Timestamp
    private let pipeline: EventPipeline
    private let lineLimit: Int
    private var head: [UInt8] = []
    private var reader: TranscriptReader?
    private var decoder: SessionDecoder?
    private var ended = false

    /// `name` goes in the session-start event (`file`); `time` is every event's time (a transcript has none).
    public init(
        name: String, session: String, options: DecoderOptions, time: Timestamp, pipeline: EventPipeline,
        lineLimit: Int = TranscriptReader.defaultLineLimit
    ) {
        self.name = name
        self.session = session
        self.options = options
        self.time = time
        self.pipeline = pipeline
        self.lineLimit = lineLimit
    }

    /// The next bytes of the transcript. Throws (after ending the session) at a line that is not
    /// part of a transcript.
    public func feed(_ bytes: ArraySlice<UInt8>) throws {
        guard !ended else { return }
        if reader == nil {
            head += bytes
            if head.count >= Self.headSize { try begin() }
            return
        }
        try advance { try $0.feed(bytes) }
    }

    /// The end of the transcript: the last line, then `session-end`.
    public func finish() throws {
        guard !ended else { return }
        if reader == nil { try begin() }
        try advance { try $0.finish() }
        ended = true
        if let decoder { pipeline.publish(decoder.finish(reason: "end of transcript", time: time), session: session) }
        if let reader, reader.overlongLines > 0 {
            let first = reader.firstOverlongLine.map { " (the first at line \($0))" } ?? ""
            let count = reader.overlongLines
            let lines = count == 1 ? "line" : "lines"
            warnings.append("\(count) \(lines) longer than \(lineLimit) bytes\(first) passed to the decoder in pieces")
        }
    }

    /// Decodes a transcript from a descriptor to its end; `head` is what was already read from it.
    /// Does not close the descriptor.
    public func decode(fileDescriptor fd: Int32, head: [UInt8] = []) throws {
        try feed(head[...])
        var block = [UInt8](repeating: 0, count: Self.blockSize)
        while true {
            let count = block.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                let why = String(cString: strerror(errno))
                end(reason: "the transcript could not be read further: \(why)")
                throw Failure(description: why)
            }
            if count == 0 { break }
            try feed(block[..<count])
        }
        try finish()
    }

    private func begin() throws {
        var options = options
        if FixtureReader.isDecompressed(head) { options.inflateAfterCompress = false }
        let started = SessionDecoder(options: options)
        decoder = started
        pipeline.publish(
            started.start(
                client: "0.0.0.0:0", server: "0.0.0.0:143", source: "transcript", time: time,
                file: name), session: session)
        reader = TranscriptReader(exact: head.contains(0x0D), lineLimit: lineLimit)
        let bytes = head
        head = []
        try advance { try $0.feed(bytes[...]) }
    }

    private func advance(_ step: (inout TranscriptReader) throws -> [TranscriptReader.Item]) throws {
        guard var owned = reader, let decoder else { return }
        // One owner while it changes, so its line buffer is not copied.
        reader = nil
        defer { reader = owned }
        do {
            decode(try step(&owned), with: decoder)
        } catch let failure as FixtureReader.Failure {
            // What the lines before the bad one hold is decoded, then the session ends there.
            decode(owned.itemsBeforeFailure(), with: decoder)
            end(reason: "the transcript cannot be read past line \(failure.line): \(failure.message)")
            throw failure
        }
    }

    private func decode(_ items: [TranscriptReader.Item], with decoder: SessionDecoder) {
        for item in items {
            switch item {
            case .decompressed: decoder.dataAfterCompressIsInflated()
            case .chunk(let chunk):
                pipeline.publish(decoder.feed(chunk.direction, chunk.bytes, time: time), session: session)
            }
        }
    }

    private func end(reason: String) {
        guard !ended else { return }
        ended = true
        if let decoder { pipeline.publish(decoder.finish(reason: reason, time: time), session: session) }
    }
}
