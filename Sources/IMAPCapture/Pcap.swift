import CPcap
import IMAPCore

#if canImport(Glibc)
    import Glibc
#endif

/// One captured frame.
public struct CapturedPacket: Sendable {
    /// 1-based position in the file (or since the live capture started).
    public var number: Int
    public var time: Timestamp
    /// Bytes on the wire; more than `data.count` when the snap length cut the frame.
    public var wireLength: Int
    public var data: [UInt8]

    public init(number: Int, time: Timestamp, wireLength: Int, data: [UInt8]) {
        self.number = number
        self.time = time
        self.wireLength = wireLength
        self.data = data
    }
}

public struct CaptureError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ message: String) { description = message }
}

private func text(_ pointer: UnsafePointer<CChar>?) -> String {
    guard let pointer else { return "unknown error" }
    return String(validatingCString: pointer) ?? "unknown error"
}

/// libpcap reading, for files (pcap and pcapng) and live interfaces.
public final class PcapSource {
    private let handle: OpaquePointer
    public let name: String
    public let linkType: Int32
    public private(set) var packetsRead = 0
    /// Written by `imapscope proxy --pcap`: plaintext throughout, STARTTLS included.
    public private(set) var writtenByProxy = false
    /// Written by the proxy with the data after COMPRESS=DEFLATE already inflated
    /// (`PcapNGWriter.decompressedComment`).
    public private(set) var inflatedAfterCompress = false

    private init(handle: OpaquePointer, name: String) {
        self.handle = handle
        self.name = name
        self.linkType = pcap_datalink(handle)
    }

    deinit { pcap_close(handle) }

    /// Opens a pcap or pcapng file.
    public static func open(file path: String) throws -> PcapSource {
        var err = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE) + 1)
        guard let pcapHandle = pcap_open_offline(path, &err) else {
            throw CaptureError("\(path): \(err.withUnsafeBufferPointer { text($0.baseAddress) })")
        }
        let source = PcapSource(handle: pcapHandle, name: path)
        source.describe(PcapNGWriter.sectionHeader(ofFile: path))
        return source
    }

    /// What the section header says of the writer: the proxy's own files decode past STARTTLS, and
    /// newer ones hold what followed COMPRESS inflated already.
    private func describe(_ header: PcapNGWriter.SectionHeader?) {
        writtenByProxy = header?.application == PcapNGWriter.proxyApplication
        inflatedAfterCompress = writtenByProxy && header?.comments.contains(PcapNGWriter.decompressedComment) == true
    }

    /// Opens a capture from a descriptor (standard input, a pipe such as `<(…)`, or a file)
    /// whose first bytes, `head`, were just read from it to tell the format: libpcap reads them
    /// again, then the rest. Takes ownership of the descriptor.
    public static func open(fileDescriptor fd: Int32, head: [UInt8], name: String) throws -> PcapSource {
        var info = stat()
        let regular = fstat(fd, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
        let file: UnsafeMutablePointer<FILE>?
        // A file can simply be read again from where `head` began (and ftell reports progress).
        if regular && lseek(fd, off_t(-head.count), SEEK_CUR) >= 0 {
            file = fdopen(fd, "rb")
        } else {
            file = PrefixedStream.open(fd: fd, head: head)
        }
        guard let file else {
            let why = String(cString: strerror(errno))
            close(fd)
            throw CaptureError("\(name): \(why)")
        }
        var err = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE) + 1)
        guard let pcapHandle = pcap_fopen_offline(file, &err) else {
            fclose(file)
            throw CaptureError("\(name): \(err.withUnsafeBufferPointer { text($0.baseAddress) })")
        }
        let source = PcapSource(handle: pcapHandle, name: name)
        source.describe(PcapNGWriter.sectionHeader(head))
        return source
    }

    /// Opens a live interface (needs privileges).
    public static func open(interface: String, snaplen: Int32 = 262_144) throws -> PcapSource {
        var err = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE) + 1)
        guard let pcapHandle = pcap_create(interface, &err) else {
            throw CaptureError("interface \(interface): \(err.withUnsafeBufferPointer { text($0.baseAddress) })")
        }
        pcap_set_snaplen(pcapHandle, snaplen)
        pcap_set_promisc(pcapHandle, 0)
        // A buffer timeout (not immediate mode) so pcap_next_ex returns regularly and a stop
        // request is seen within 100 ms even on an idle interface.
        pcap_set_timeout(pcapHandle, 100)
        let rc = pcap_activate(pcapHandle)
        if rc < 0 {
            let msg = text(pcap_geterr(pcapHandle))
            pcap_close(pcapHandle)
            throw CaptureError("interface \(interface): \(msg)")
        }
        // Non-blocking, and we poll the descriptor ourselves: on Linux the buffer timeout does
        // not wake an idle read, and a stop request must be seen promptly.
        _ = pcap_setnonblock(pcapHandle, 1, &err)
        let source = PcapSource(handle: pcapHandle, name: interface)
        source.selectableFD = pcap_get_selectable_fd(pcapHandle)
        return source
    }

    public var linkTypeName: String {
        let linkName = pcap_datalink_val_to_name(linkType).map { text($0) } ?? "unknown"
        return "\(linkName) (\(linkType))"
    }

    /// Applies a BPF filter expression.
    public func setFilter(_ expression: String) throws {
        var prog = bpf_program()
        guard pcap_compile(handle, &prog, expression, 1, PCAP_NETMASK_UNKNOWN) == 0 else {
            throw CaptureError("filter '\(expression)': \(text(pcap_geterr(handle)))")
        }
        defer { pcap_freecode(&prog) }
        guard pcap_setfilter(handle, &prog) == 0 else {
            throw CaptureError("filter '\(expression)': \(text(pcap_geterr(handle)))")
        }
    }

    public enum Next {
        case packet(CapturedPacket)
        /// Live capture: no packet within the timeout.
        case timeout
        case end
    }

    /// The next packet; throws on damage, naming the file and the packet number.
    /// Set for live captures: the descriptor to wait on.
    private var selectableFD: Int32 = -1

    public func next() throws -> Next {
        var header: UnsafeMutablePointer<pcap_pkthdr>?
        var data: UnsafePointer<UInt8>?
        var rc = pcap_next_ex(handle, &header, &data)
        if rc == 0 && selectableFD >= 0 {
            var pollRequest = pollfd(fd: selectableFD, events: Int16(POLLIN), revents: 0)
            _ = poll(&pollRequest, 1, 100)
            rc = pcap_next_ex(handle, &header, &data)
        }
        switch rc {
        case 1:
            packetsRead += 1
            // libpcap sets both on success; a missing one is damage, not a crash.
            guard let packetHeader = header?.pointee, data != nil || packetHeader.caplen == 0 else {
                throw CaptureError("\(name): packet \(packetsRead): libpcap returned no packet header")
            }
            let bytes = Array(UnsafeBufferPointer(start: data, count: Int(packetHeader.caplen)))
            let time = Timestamp(seconds: Int64(packetHeader.ts.tv_sec), microseconds: Int64(packetHeader.ts.tv_usec))
            return .packet(
                CapturedPacket(number: packetsRead, time: time, wireLength: Int(packetHeader.len), data: bytes))
        case 0: return .timeout
        case PCAP_ERROR_BREAK: return .end
        default:
            throw CaptureError("\(name): packet \(packetsRead + 1): \(text(pcap_geterr(handle)))")
        }
    }

    public func breakLoop() { pcap_breakloop(handle) }

    /// How far into the file reading has got (for progress), nil for a live capture.
    public var fileOffset: Int? { pcap_file(handle).map { Int(ftell($0)) } }
}

/// A read-only FILE that yields bytes already read from a descriptor, then the descriptor's own:
/// how a pipe's first bytes are looked at without being lost.
private final class PrefixedStream {
    let fd: Int32
    var head: [UInt8]
    var position = 0

    private init(fd: Int32, head: [UInt8]) {
        self.fd = fd
        self.head = head
    }

    static func open(fd: Int32, head: [UInt8]) -> UnsafeMutablePointer<FILE>? {
        var io = imapscope_cookie_io_functions()
        io.read = { cookie, buffer, size in
            guard let cookie, let buffer else { return -1 }
            let prefixed = Unmanaged<PrefixedStream>.fromOpaque(cookie).takeUnretainedValue()
            if prefixed.position < prefixed.head.count {
                let copied = min(size, prefixed.head.count - prefixed.position)
                prefixed.head.withUnsafeBytes { raw in
                    guard let base = raw.baseAddress else { return }
                    UnsafeMutableRawPointer(buffer).copyMemory(from: base + prefixed.position, byteCount: copied)
                }
                prefixed.position += copied
                if prefixed.position == prefixed.head.count {
                    prefixed.head = []
                    prefixed.position = 0
                }
                return copied
            }
            while true {
                let readCount = read(prefixed.fd, buffer, size)
                if readCount < 0 && errno == EINTR { continue }
                return readCount
            }
        }
        io.close = { cookie in
            guard let cookie else { return 0 }
            let prefixed = Unmanaged<PrefixedStream>.fromOpaque(cookie).takeRetainedValue()
            return close(prefixed.fd)
        }
        let stream = PrefixedStream(fd: fd, head: head)
        let cookie = Unmanaged.passRetained(stream).toOpaque()
        guard let file = fopencookie(cookie, "rb", io) else {
            Unmanaged<PrefixedStream>.fromOpaque(cookie).release()
            return nil
        }
        return file
    }
}

/// Writes pcap files through libpcap (test captures, and the proxy's plaintext pcap).
public final class PcapWriter {
    private let dead: OpaquePointer
    private let dumper: OpaquePointer

    public init(path: String, linkType: Int32 = 1, snaplen: Int32 = 262_144) throws {
        guard let deadHandle = pcap_open_dead(linkType, snaplen) else {
            throw CaptureError("\(path): cannot create a pcap handle")
        }
        guard let dump = pcap_dump_open(deadHandle, path) else {
            let msg = text(pcap_geterr(deadHandle))
            pcap_close(deadHandle)
            throw CaptureError("\(path): \(msg)")
        }
        dead = deadHandle
        dumper = dump
    }

    /// Writes one frame; `wireLength` larger than the data simulates a snap length cut.
    public func write(_ frame: [UInt8], time: Timestamp, wireLength: Int? = nil) {
        var header = pcap_pkthdr()
        header.ts.tv_sec = Int(time.microseconds / 1_000_000)
        header.ts.tv_usec = Int(time.microseconds % 1_000_000)
        header.caplen = UInt32(frame.count)
        header.len = UInt32(wireLength ?? frame.count)
        frame.withUnsafeBufferPointer { frameBytes in
            pcap_dump(
                UnsafeMutableRawPointer(dumper).assumingMemoryBound(to: UInt8.self), &header, frameBytes.baseAddress)
        }
    }

    public func close() {
        pcap_dump_flush(dumper)
        pcap_dump_close(dumper)
        pcap_close(dead)
    }
}
