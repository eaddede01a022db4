import Foundation

/// The built `imapscope` executable (swift build puts it beside the test bundle).
public enum Binary {
    public static var imapscope: String {
        let candidates = [
            Bundle.main.bundleURL.appendingPathComponent("imapscope").path,
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("imapscope").path,
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
            throw DovecotProcess.Failure(description: "imapscope proxy did not start: \(String(decoding: seen + err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))")
        }
        let t = Thread { [self] in
            let d = err.fileHandleForReading.readDataToEndOfFile()
            lock.withLock { rest = d }
        }
        drainer = t
        t.start()
    }

    /// SIGTERM; returns the exit status and everything it wrote on stderr.
    public func stop() -> (status: Int32, stderr: String) {
        Thread.sleep(forTimeInterval: 0.3)   // let the last session's events reach the outputs
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
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    // Read both pipes concurrently so neither fills up.
    nonisolated(unsafe) var errData = Data()
    let t = Thread { errData = err.fileHandleForReading.readDataToEndOfFile() }
    t.start()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    while !t.isFinished { usleep(1000) }
    return ProcessResult(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self))
}
