import Foundation

/// The built `imapscope` executable (swift build puts it beside the test bundle).
public enum Binary {
    public static var imapscope: String {
        let candidates = [
            Bundle.main.bundleURL.appendingPathComponent("imapscope").path,
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(
                "imapscope"
            ).path,
            DovecotProcess.repository.appendingPathComponent(".build/debug/imapscope").path,
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[2]
    }
}

/// `imapscope proxy …` in a child process, as a user runs it: waits for its "listening on"
/// lines, and stops it with SIGTERM. Its stderr is read as it comes (a full pipe would stall it).
public final class ProxyBinaryProcess: @unchecked Sendable {
    private let process = Process()
    private let err = Pipe()
    /// The ports it listens on, in the order of the `--listen` options.
    public private(set) var ports: [Int] = []
    private var seen = Data()
    /// stderr after the "listening on" lines, read by `drainer` until the process ends.
    private var rest = Data()
    private let lock = NSLock()
    private var drainer: Thread?
    public var pid: Int32 { process.processIdentifier }

    public init(_ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: Binary.imapscope)
        process.arguments = ["proxy"] + arguments
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        // Not the runner's stdin (it may be a socket, which would count among the proxy's).
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let listeners = arguments.filter { $0 == "--listen" }.count
        while String(decoding: seen, as: UTF8.self).components(separatedBy: "listening on").count <= listeners {
            let d = err.fileHandleForReading.availableData
            if d.isEmpty { break }
            seen += d
        }
        ports = String(decoding: seen, as: UTF8.self).split(separator: "\n").compactMap { l -> Int? in
            guard l.contains("listening on"), let r = l.range(of: "127.0.0.1:") else { return nil }
            return Int(l[r.upperBound...].prefix { $0.isNumber })
        }
        guard ports.count == listeners else {
            process.terminate()
            process.waitUntilExit()
            throw DovecotProcess.Failure(
                description:
                    "imapscope proxy did not start: \(String(decoding: seen + err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))"
            )
        }
        let t = Thread { [self] in
            let d = err.fileHandleForReading.readDataToEndOfFile()
            lock.withLock { rest = d }
        }
        drainer = t
        t.start()
    }

    /// Whether every connection had closed when `stop()` sent SIGTERM.
    public private(set) var connectionsClosedBeforeStop = false

    /// TCP sockets the process holds open other than its listeners (from /proc: its socket
    /// descriptors, and their state in /proc/net/tcp and tcp6).
    public var openConnections: Int {
        let fdDir = "/proc/\(process.processIdentifier)/fd"
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: fdDir)) ?? []
        let inodes = Set(
            fds.compactMap { fd -> String? in
                guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: fdDir + "/" + fd),
                    target.hasPrefix("socket:[")
                else { return nil }
                return String(target.dropFirst(8).dropLast())
            })
        var open = 0
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            let text = (try? String(contentsOfFile: table, encoding: .utf8)) ?? ""
            for row in text.split(separator: "\n").dropFirst() {
                let f = row.split(separator: " ")
                // Columns: sl local remote st … inode (the tenth); 0A is LISTEN.
                if f.count > 9, f[3] != "0A", inodes.contains(String(f[9])) { open += 1 }
            }
        }
        return open
    }

    /// SIGTERM once every session's connections have closed (so each session ended as the
    /// client and server ended it, not because the proxy stopped), waiting up to `seconds`;
    /// returns the exit status and everything it wrote on stderr.
    public func stop(waitingForConnectionsToClose seconds: Double = 20) -> (status: Int32, stderr: String) {
        connectionsClosedBeforeStop = waitUntil(seconds: seconds) { openConnections == 0 }
        process.terminate()
        process.waitUntilExit()
        while drainer?.isFinished == false { usleep(1000) }
        return (process.terminationStatus, String(decoding: seen + lock.withLock { rest }, as: UTF8.self))
    }
}

public struct ProcessResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

/// Runs a program to completion.
public func run(_ path: String, _ args: [String], environment: [String: String]? = nil) throws -> ProcessResult {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    if let e = environment { p.environment = e }
    let out = Pipe()
    let err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    // Read both pipes concurrently so neither fills up; the semaphore orders the reader's write
    // before our read of errData.
    nonisolated(unsafe) var errData = Data()
    let errRead = DispatchSemaphore(value: 0)
    let t = Thread {
        errData = err.fileHandleForReading.readDataToEndOfFile()
        errRead.signal()
    }
    t.start()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    errRead.wait()
    return ProcessResult(
        status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
        stderr: String(decoding: errData, as: UTF8.self))
}

/// Polls `condition` every 20 ms until it holds or `seconds` have passed; whether it held. Tests
/// wait on the condition they need (a session ended, a line printed) with a generous bound,
/// never on a fixed sleep, and record an issue when it returns false.
@discardableResult
public func waitUntil(seconds: Double, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while !condition() {
        if Date() >= deadline { return false }
        usleep(20_000)
    }
    return true
}
