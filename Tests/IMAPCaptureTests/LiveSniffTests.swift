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
        let sink = CollectingSink()
        let pipeline = EventPipeline(redactor: Redactor(), sinks: [sink])
        let stop = LockedFlag()
        var options = CaptureDecoder.Options()
        options.imapPorts = [UInt16(port)]
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: CaptureReader.Result?
        // The reader thread owns these until `done` is signalled.
        nonisolated(unsafe) let src = source, pipe = pipeline
        let opts = options
        let reader = Thread {
            result = try? CaptureReader.read(source: src, filter: "tcp port \(port)", options: opts,
                                             shouldStop: { stop.isSet }) { s, e in pipe.publish(e, session: s) }
            done.signal()
        }
        reader.start()
        Thread.sleep(forTimeInterval: 0.5)
        let client = Process()
        client.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        client.arguments = ["python3", "-c", """
        import imaplib
        m = imaplib.IMAP4('127.0.0.1', \(port))
        m.login('alice', 'password'); m.select('INBOX'); m.fetch('1:2', '(FLAGS)'); m.logout()
        """]
        try client.run()
        client.waitUntilExit()
        #expect(client.terminationStatus == 0)
        Thread.sleep(forTimeInterval: 0.5)
        stop.set()
        #expect(done.wait(timeout: .now() + 5) == .success, "the capture did not stop within 5 s of the request")
        let names = sink.events.filter { $0.kind == .command }.map { $0["name"]?.stringValue ?? "" }
        // imaplib asks for CAPABILITY itself before logging in.
        #expect(names == ["CAPABILITY", "LOGIN", "SELECT", "FETCH", "LOGOUT"], "\(names)")
        let tagged = sink.events.filter { $0.kind == .tagged }
        #expect(tagged.allSatisfy { $0["status"]?.stringValue == "OK" && $0["command"] != nil })
        #expect(sink.events.filter { $0.kind == .untagged && $0["name"]?.stringValue == "FETCH" }.count == 2)
        #expect(sink.events.first?["server"]?.stringValue == "127.0.0.1:\(port)")
        #expect(!sink.events.map { $0.json.serialized }.joined().contains("\"password\""))
        #expect(result?.error == nil)
    }
}

final class LockedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
    func set() { lock.lock(); value = true; lock.unlock() }
}
