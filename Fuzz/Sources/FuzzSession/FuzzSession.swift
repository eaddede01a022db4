import FuzzSupport
import IMAPCore

// The session decoder fed both directions, cut where the fuzzer says.
// Input: one options byte, then records of [header][bytes]: header bit 7 is the direction
// (set: server), bits 0-5 the length - 1; bit 6 set instead makes the record a gap of that
// many lost bytes in the header's direction (no bytes follow).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSession(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let flags = input.byte()
    var options = DecoderOptions()
    options.clientStreamFromStart = flags & 1 == 0
    options.inflateAfterCompress = flags & 2 == 0
    let sinks = AllSinks(showSecrets: flags & 4 != 0)
    let decoder = SessionDecoder(options: options)
    var account = ByteAccount()
    var time = Timestamp(microseconds: 1_700_000_000_000_000)
    func publish(_ events: [DecodedEvent]) {
        account.saw(events)
        sinks.publish(events, session: "fuzz")
    }
    publish(decoder.start(client: "127.0.0.1:50000", server: "127.0.0.1:143", source: "transcript", time: time))
    while !input.isAtEnd {
        let header = input.byte()
        let dir: Direction = header & 0x80 != 0 ? .server : .client
        let length = Int(header & 0x3F) + 1
        time = Timestamp(microseconds: time.microseconds + 1000)
        if header & 0x40 != 0 {
            account.lost(dir)
            publish(decoder.gap(dir, bytes: length, time: time))
        } else {
            let bytes = input.take(length)
            account.fed(dir, bytes.count)
            publish(decoder.feed(dir, bytes, time: time))
        }
        _ = decoder.pendingMayHoldSecret(.client)
    }
    publish(decoder.finish(reason: "end of input", time: time))
    sinks.finish()
    account.check()
    return 0
}

@_cdecl("FuzzSession_main")
public func fuzzSessionMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in fuzzSession(data, size) }
}
