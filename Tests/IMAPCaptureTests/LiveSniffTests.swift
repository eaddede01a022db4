import Foundation
import IMAPCapture
import IMAPCore
import IMAPTestSupport
import IMAPTranscript
import Testing

/// `imapscope sniff`'s path: a live capture on the loopback interface while Python's imaplib
/// talks to a real Dovecot started for the test.
@Suite("Live capture", .serialized)
struct LiveSniffTests {
    @Test func decodesTrafficAsItHappens() throws {
        let dovecot = try DovecotProcess(seed: 2)
        defer { dovecot.stop() }
        let port = dovecot.imapPort
        let source = try PcapSource.open(interface: "lo")
        // Capture is active once the source is open, and the filter is set before the client
        // starts: from here on the kernel queues every matching packet for the reader thread.
        try source.setFilter("tcp port \(port)")
        let sink = LockedSink()
        let jsonl = MemoryOutput()
        let text = MemoryOutput()
        let sinks: [EventSink] = [sink, JSONLinesWriter(jsonl), TextWriter(text, style: .init(color: false))]
        let pipeline = EventPipeline(redactor: Redactor(), sinks: sinks)
        let stop = LockedFlag()
        var options = CaptureDecoder.Options()
        options.imapPorts = [UInt16(port)]
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var outcome: Result<CaptureReader.Result, Error>?
        // The reader thread owns these until `done` is signalled.
        nonisolated(unsafe) let src = source
        nonisolated(unsafe) let pipe = pipeline
        let opts = options
        let reader = Thread {
            outcome = Result {
                try CaptureReader.read(
                    source: src, filter: nil, options: opts,
                    shouldStop: { stop.isSet }
                ) { s, e in pipe.publish(e, session: s) }
            }
            done.signal()
        }
        reader.start()
        let client = Process()
        client.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        client.arguments = [
            "python3", "-c",
            """
            import imaplib
            m = imaplib.IMAP4('127.0.0.1', \(port))
            m.login('alice', 'password'); m.select('INBOX'); m.fetch('1:2', '(FLAGS)'); m.logout()
            """,
        ]
        try client.run()
        client.waitUntilExit()
        #expect(client.terminationStatus == 0)
        // Both sides closed: the capture ends the session when it has seen both FINs.
        let ended = waitUntil(seconds: 20) { sink.events.contains { $0.kind == .sessionEnd } }
        #expect(ended, "the capture saw no session end within 20 s: \(EventSummary.lines(sink.events))")
        stop.set()
        try #require(done.wait(timeout: .now() + 10) == .success, "the capture did not stop within 10 s of the request")
        pipeline.finish()
        switch outcome {
        case .success(let r)?: #expect(r.error == nil, "the capture reported damage: \(r.error ?? "")")
        case .failure(let error)?: Issue.record("the capture reader threw: \(error)")
        case nil: Issue.record("the capture reader never returned")
        }
        let events = sink.events
        let names = events.filter { $0.kind == .command }.map { $0["name"]?.stringValue ?? "" }
        // imaplib asks for CAPABILITY itself before logging in.
        #expect(names == ["CAPABILITY", "LOGIN", "SELECT", "FETCH", "LOGOUT"], "\(names)")
        let tagged = events.filter { $0.kind == .tagged }
        #expect(tagged.count == 5 && tagged.allSatisfy { $0["status"]?.stringValue == "OK" && $0["command"] != nil })
        #expect(events.filter { $0.kind == .untagged && $0["name"]?.stringValue == "FETCH" }.count == 2)
        #expect(events.first?["server"]?.stringValue == "127.0.0.1:\(port)")
        // The password in no output, in any form (clear, or base64 as SASL would carry it).
        let outputs = [
            ("events", events.map { $0.json.serialized }.joined(separator: "\n")),
            ("JSON Lines", jsonl.text), ("text", text.text),
        ]
        for (name, output) in outputs {
            #expect(!output.isEmpty, "\(name) is empty")
            let leaks = SecretScan("password").leaks(in: output)
            #expect(leaks.isEmpty, "\(name) shows the password: \(leaks)")
        }
    }
}

/// Collects events from the capture thread while the test thread polls them.
final class LockedSink: EventSink, @unchecked Sendable {
    private let lock = NSLock()
    private var collected: [Event] = []
    var events: [Event] {
        lock.lock()
        defer { lock.unlock() }
        return collected
    }
    func write(_ event: Event) {
        lock.lock()
        collected.append(event)
        lock.unlock()
    }
    func finish() {}
}

final class LockedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool {
        lock.lock()
        defer { lock.unlock() }
        return value
    }
    func set() {
        lock.lock()
        value = true
        lock.unlock()
    }
}
