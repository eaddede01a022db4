import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A file named on the command line, `-` for standard input, or a pipe such as `<(…)`: opened
/// once, with its first bytes read to tell its format and kept, so a stream loses none of them.
final class InputFile {
    let path: String
    /// Owned until handed on (`take()`); closed on deinit otherwise.
    private var fd: Int32
    let head: [UInt8]
    /// The size of a regular file (for progress), nil for a stream.
    let size: Int?
    let modificationTime: Date

    /// Bytes read ahead to recognise a transcript (`FixtureReader.looksLikeTranscript` looks at as many).
    static let transcriptHead = 4096

    var captureKind: String? { CaptureMagic.kind(of: head) }

    private init(path: String, fd: Int32, head: [UInt8], size: Int?, modificationTime: Date) {
        self.path = path
        self.fd = fd
        self.head = head
        self.size = size
        self.modificationTime = modificationTime
    }

    deinit { if fd >= 0 { close(fd) } }

    /// The descriptor, for a reader that takes ownership of it.
    func take() -> Int32 {
        defer { fd = -1 }
        return fd
    }

    /// The descriptor, still owned by this value.
    var descriptor: Int32 { fd }

    static func open(_ path: String) throws -> InputFile {
        let fd = path == "-" ? dup(0) : Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            switch code {
            case ENOENT: throw CLIError(description: "\(path): no such file")
            case EACCES: throw CLIError(description: "\(path): cannot be read (permission denied)")
            default: throw CLIError(description: "\(path): \(String(cString: strerror(code)))")
            }
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let why = String(cString: strerror(errno))
            close(fd)
            throw CLIError(description: "\(path): \(why)")
        }
        let kind = info.st_mode & S_IFMT
        if kind == S_IFDIR {
            close(fd)
            throw CLIError(description: "\(path): is a directory")
        }
        let regular = kind == S_IFREG
        do {
            // As few bytes as tell the format: a live pipe (tcpdump -U -w - | imapscope read -)
            // must not wait for more than its header.
            var head = try readUpTo(fd, 4)
            switch CaptureMagic.kind(of: head) {
            case "pcap": break
            case "pcapng":
                head += try readUpTo(fd, 12 - head.count)
                head += try readUpTo(fd, sectionHeaderLength(head) - head.count)
            default: head += try readUpTo(fd, transcriptHead - head.count)
            }
            let time =
                regular
                ? Date(
                    timeIntervalSince1970: TimeInterval(info.st_mtim.tv_sec)
                        + TimeInterval(info.st_mtim.tv_nsec) / 1e9) : Date()
            return InputFile(
                path: path, fd: fd, head: head, size: regular ? Int(info.st_size) : nil,
                modificationTime: time)
        } catch {
            close(fd)
            throw CLIError(description: "\(path): \(error)")
        }
    }

    /// The rest of the input after `head` (for inputs read whole, like JSON Lines in `diff`).
    func readRest() throws -> [UInt8] {
        var all: [UInt8] = []
        while true {
            let more = try Self.readUpTo(fd, 1 << 16)
            if more.isEmpty { return all }
            all += more
        }
    }

    /// The first section header block's length (the application name is in it), at most 4096.
    private static func sectionHeaderLength(_ head: [UInt8]) -> Int {
        guard head.count >= 12 else { return head.count }
        let lengthBytes = head[4..<8].map(Int.init)
        let length: Int
        switch Array(head[8..<12]) {
        case [0x4D, 0x3C, 0x2B, 0x1A]:
            length = lengthBytes[0] | lengthBytes[1] << 8 | lengthBytes[2] << 16 | lengthBytes[3] << 24
        case [0x1A, 0x2B, 0x3C, 0x4D]:
            length = lengthBytes[3] | lengthBytes[2] << 8 | lengthBytes[1] << 16 | lengthBytes[0] << 24
        default: return head.count
        }
        return min(max(length, head.count), 4096)
    }

    /// Reads until `count` bytes or the end of the input.
    static func readUpTo(_ fd: Int32, _ count: Int) throws -> [UInt8] {
        guard count > 0 else { return [] }
        var buffer = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let got = buffer.withUnsafeMutableBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return read(fd, base + filled, count - filled)
            }
            if got < 0 {
                if errno == EINTR { continue }
                throw CLIError(description: String(cString: strerror(errno)))
            }
            if got == 0 { break }
            filled += got
        }
        buffer.removeLast(count - filled)
        return buffer
    }
}
