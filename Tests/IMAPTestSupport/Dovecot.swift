import Foundation
import IMAPCore

/// A real Dovecot on loopback for one test, from scripts/dovecot_fixture.py.
public final class DovecotProcess: @unchecked Sendable {
    public let imapPort: Int
    public let imapsPort: Int
    public let directory: String
    private let process: Process

    public struct Failure: Error, CustomStringConvertible { public var description: String }

    public static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    public init(seed: Int = 2) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        // The test runner blocks SIGINT in its children's signal mask; clear it so the fixture's
        // Ctrl-C handling stops Dovecot when `stop()` interrupts it.
        p.arguments = [
            "python3", "-c",
            """
            import signal, sys
            signal.pthread_sigmask(signal.SIG_SETMASK, [])
            sys.path.insert(0, '\(Self.repository.appendingPathComponent("scripts").path)')
            import dovecot_fixture
            sys.exit(dovecot_fixture.main(['--seed', '\(seed)']))
            """,
        ]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        var line = Data()
        while !line.contains(0x0A) {
            let d = out.fileHandleForReading.availableData
            if d.isEmpty {
                throw Failure(
                    description:
                        "dovecot_fixture.py ended without starting Dovecot (is dovecot-imapd installed, and are we root?)"
                )
            }
            line += d
        }
        let json = try JSONParser.parse([UInt8](line.prefix { $0 != 0x0A }))
        guard let port = json["imap_port"]?.intValue, let tls = json["imaps_port"]?.intValue,
            let dir = json["dir"]?.stringValue
        else {
            throw Failure(description: "unexpected fixture output: \(String(decoding: line, as: UTF8.self))")
        }
        process = p
        imapPort = Int(port)
        imapsPort = Int(tls)
        directory = dir
    }

    public func stop() {
        process.interrupt()
        process.waitUntilExit()
    }
}

/// Runs a Python snippet; returns its standard output, failing on a non-zero exit.
public func runPython(_ code: String) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["python3", "-c", code]
    let out = Pipe()
    let err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else {
        throw DovecotProcess.Failure(
            description: "python3 exited \(p.terminationStatus): \(String(decoding: e, as: UTF8.self))")
    }
    return String(decoding: o, as: UTF8.self)
}

/// A Python process that prints one line when it is ready (a port), may be sent lines on its
/// standard input, and then runs to its end.
public final class PythonProcess {
    private let process = Process()
    private let out = Pipe()
    private let input = Pipe()
    private var rest: Data
    public let firstLine: String

    public init(_ code: String) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", code]
        process.standardOutput = out
        process.standardInput = input
        try process.run()
        var line = Data()
        while !line.contains(0x0A) {
            let d = out.fileHandleForReading.availableData
            if d.isEmpty { break }
            line += d
        }
        firstLine = String(decoding: line.prefix { $0 != 0x0A }, as: UTF8.self)
        rest = Data(line.drop { $0 != 0x0A }.dropFirst())
    }

    /// Writes one line to its standard input.
    public func send(_ line: String) { input.fileHandleForWriting.write(Data((line + "\n").utf8)) }

    /// Waits for the end; returns what it printed after the first line.
    public func finish() -> String {
        let d = rest + out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: d, as: UTF8.self)
    }
}
