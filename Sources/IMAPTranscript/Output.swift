#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A buffered byte destination: a file, stdout, or memory (tests).
public protocol ByteOutput: AnyObject {
    func write(_ bytes: [UInt8])
    func flush()
}

extension ByteOutput {
    public func write(_ text: String) { write(Array(text.utf8)) }
}

public final class MemoryOutput: ByteOutput {
    public private(set) var bytes: [UInt8] = []
    public init() {}
    public func write(_ more: [UInt8]) { bytes += more }
    public func flush() {}
    public var text: String { String(decoding: bytes, as: UTF8.self) }
}

public struct OutputError: Error, CustomStringConvertible {
    public var description: String
}

/// A file (or stdout) written through stdio's buffer.
public final class FileOutput: ByteOutput {
    private let file: UnsafeMutablePointer<FILE>?
    private let owned: Bool
    public let isTerminal: Bool

    // fdopen on a dup'd descriptor: the C globals stdout/stderr are not concurrency-safe in Swift 6.
    /// Standard output; throws when descriptor 1 is closed, since the output would be lost.
    public static func standardOutput() throws -> FileOutput {
        guard let file = fdopen(dup(1), "wb") else {
            throw OutputError(description: "cannot write to standard output: \(String(cString: strerror(errno)))")
        }
        return FileOutput(file: file, owned: true)
    }

    /// Standard error, or /dev/null when descriptor 2 is closed (there is nowhere else to say so).
    public static func standardError() -> FileOutput {
        if let file = fdopen(dup(2), "wb") ?? fopen("/dev/null", "wb") { return FileOutput(file: file, owned: true) }
        return FileOutput(file: nil, owned: false)
    }

    private init(file: UnsafeMutablePointer<FILE>?, owned: Bool) {
        self.file = file
        self.owned = owned
        self.isTerminal = file.map { isatty(fileno($0)) != 0 } ?? false
    }

    public convenience init(path: String) throws {
        guard let file = fopen(path, "wb") else {
            throw OutputError(description: "cannot write \(path): \(String(cString: strerror(errno)))")
        }
        self.init(file: file, owned: true)
    }

    /// Each line goes out as soon as it ends (a proxy's live records: `tail -f` follows them, and
    /// a killed process loses at most the line it was writing). Call before the first write.
    public func flushEachLine() {
        if let file { setvbuf(file, nil, _IOLBF, 64 * 1024) }
    }

    public func write(_ bytes: [UInt8]) {
        guard let file else { return }
        _ = bytes.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count, file) }
    }

    public func flush() { if let file { fflush(file) } }

    deinit {
        guard let file else { return }
        fflush(file)
        if owned { fclose(file) }
    }
}
