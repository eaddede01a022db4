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
    public func write(_ s: String) { write(Array(s.utf8)) }
}

public final class MemoryOutput: ByteOutput {
    public private(set) var bytes: [UInt8] = []
    public init() {}
    public func write(_ b: [UInt8]) { bytes += b }
    public func flush() {}
    public var text: String { String(decoding: bytes, as: UTF8.self) }
}

public struct OutputError: Error, CustomStringConvertible {
    public var description: String
}

/// A file (or stdout) written through stdio's buffer.
public final class FileOutput: ByteOutput {
    private let file: UnsafeMutablePointer<FILE>
    private let owned: Bool
    public let isTerminal: Bool

    // fdopen on a dup'd descriptor: the C globals stdout/stderr are not concurrency-safe in Swift 6.
    public static func standardOutput() -> FileOutput { FileOutput(file: fdopen(dup(1), "wb")!, owned: true) }
    public static func standardError() -> FileOutput { FileOutput(file: fdopen(dup(2), "wb")!, owned: true) }

    private init(file: UnsafeMutablePointer<FILE>, owned: Bool) {
        self.file = file
        self.owned = owned
        self.isTerminal = isatty(fileno(file)) != 0
    }

    public convenience init(path: String) throws {
        guard let f = fopen(path, "wb") else {
            throw OutputError(description: "cannot write \(path): \(String(cString: strerror(errno)))")
        }
        self.init(file: f, owned: true)
    }

    public func write(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count, file) }
    }

    public func flush() { fflush(file) }

    deinit {
        fflush(file)
        if owned { fclose(file) }
    }
}
