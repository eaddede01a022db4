import Foundation
import IMAPCapture
import IMAPCore
import IMAPTestSupport
import IMAPTranscript
import Testing

/// The committed TLS 1.3 capture (Captures/tls13-imaplib.pcap, imaplib and Dovecot) decoded with
/// its key log, after damage a capture can carry: a flipped bit in one record, a start after the
/// handshake, a key log without the session.
@Suite("TLS captures with damage")
struct TLSCaptureTests {
    static let name = "tls13-imaplib"

    static func packets() throws -> (packets: [CapturedPacket], linkType: Int32) {
        let source = try PcapSource.open(file: OwnCapturesTests.path(name))
        var out: [CapturedPacket] = []
        while case .packet(let p) = try source.next() { out.append(p) }
        return (out, source.linkType)
    }

    static func decode(_ packets: [CapturedPacket], linkType: Int32, keys: KeyLog?, tlsPort: UInt16? = nil) -> [Event] {
        let sink = CollectingSink()
        let pipeline = EventPipeline(redactor: Redactor(key: Array(repeating: 1, count: 32)), sinks: [sink])
        var options = CaptureDecoder.Options()
        if let keys { options.tlsKeys = { keys.secrets(forClientRandom: $0) } }
        if let tlsPort { options.tlsPorts = [tlsPort] }
        let decoder = CaptureDecoder(options: options) { s, e in pipeline.publish(e, session: s) }
        for p in packets { decoder.process(p, linkType: linkType) }
        decoder.finish()
        pipeline.finish()
        return sink.events
    }

    /// Client packets carrying TLS application data records (type 23), in capture order.
    static func clientRecordPackets(_ packets: [CapturedPacket], linkType: Int32) throws -> [Int] {
        let first = try FrameDecoder.segment(
            linkType: linkType, frame: packets[0].data, wireLength: packets[0].wireLength)
        return packets.indices.filter { i in
            guard
                let s = try? FrameDecoder.segment(
                    linkType: linkType, frame: packets[i].data, wireLength: packets[i].wireLength)
            else { return false }
            return s.source == first.source && s.payload.first == 23
        }
    }

    @Test func flippedBitIsReportedAndDecodingGoesOn() throws {
        var (packets, linkType) = try Self.packets()
        let keys = try #require(try OwnCapturesTests.keyLog(Self.name))
        let records = try Self.clientRecordPackets(packets, linkType: linkType)
        // CAPABILITY, LOGIN, SELECT, FETCH, NOOP, LOGOUT (Finished shares a packet with ChangeCipherSpec).
        #expect(records.count == 6)
        let select = records[2]
        packets[select].data[packets[select].data.count - 1] ^= 0x80  // the record's last tag byte
        let events = Self.decode(packets, linkType: linkType, keys: keys)
        let lines = EventSummary.lines(events)
        let lint = try #require(events.first { $0.kind == .lint && $0["code"]?.stringValue == "tls-decrypt-failed" })
        let recordBytes = packets[select].data.count - 14 - 20 - 32  // Ethernet, IPv4, TCP with timestamps
        #expect(
            lint["message"]?.stringValue
                == "the client's TLS record with sequence number 2 (\(recordBytes) bytes) failed authentication and was skipped"
        )
        // SELECT is lost. Its responses still decode; as after any client gap, the decoder hides the
        // client's lines (and redacts the tags answering them) until one is confirmed where a
        // command starts: LOGOUT, whose tag the server completes after its BYE.
        #expect(
            lines == [
                "start", "tls implicit", "S * OK", "C FCEO0 CAPABILITY", "S * CAPABILITY", "S FCEO0 OK CAPABILITY",
                "C FCEO1 LOGIN", "S * CAPABILITY", "S FCEO1 OK LOGIN", "lint tls-decrypt-failed",
                "gap client \(recordBytes)", "S * FLAGS", "S * OK", "S * 3 EXISTS", "S * 3 RECENT", "S * OK", "S * OK",
                "S * OK", "S ‹redacted:cf34dc4f› OK", "C unparsed", "S * 1 FETCH", "S * 2 FETCH",
                "S ‹redacted:05f4a5fb› OK", "C unparsed", "S ‹redacted:65706166› OK", "C FCEO5 LOGOUT", "S * BYE",
                "S FCEO5 OK LOGOUT", "end",
            ], "\(lines)")
    }

    @Test func captureStartingAfterTheHandshakeIsUndecryptable() throws {
        let (packets, linkType) = try Self.packets()
        let keys = try #require(try OwnCapturesTests.keyLog(Self.name))
        let records = try Self.clientRecordPackets(packets, linkType: linkType)
        // Dovecot's port is random: named, as `--tls-port` would, since no ClientHello shows the flow is TLS.
        let first = try FrameDecoder.segment(
            linkType: linkType, frame: packets[0].data, wireLength: packets[0].wireLength)
        let events = Self.decode(
            Array(packets[records[2]...]), linkType: linkType, keys: keys, tlsPort: first.destination.port)
        let lines = EventSummary.lines(events)
        #expect(lines == ["start", "tls implicit", "lint tls-not-decrypted", "end"], "\(lines)")
        #expect(events.first { $0.kind == .tls }?["decrypted"]?.boolValue == false)
        #expect(
            events.first { $0.kind == .lint }?["message"]?.stringValue
                == "the capture starts after the TLS handshake (no ClientHello), so it cannot be decrypted")
    }

    @Test func withoutTheKeyLogNothingChanges() throws {
        let (packets, linkType) = try Self.packets()
        // Dovecot's port was a random one: without a key log the TLS flow is not taken for IMAP.
        #expect(Self.decode(packets, linkType: linkType, keys: nil).isEmpty)
        let other = try KeyLog(
            parsing: Array(
                "CLIENT_RANDOM \(String(repeating: "00", count: 32)) \(String(repeating: "11", count: 48))\n".utf8))
        #expect(Self.decode(packets, linkType: linkType, keys: other).isEmpty)
    }
}
