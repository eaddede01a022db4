import FuzzSupport
import IMAPCapture
import IMAPCore

// Link layer, IP, TCP reassembly and the flow table, with every session's events through the
// sinks. Input: a link-type byte, then packets of [length: 2 bytes][time step: 1 byte][frame].
// The time step is in 50 ms units, so idle flows age out (after 30 s here).
private let linkTypes = FrameDecoder.supportedLinkTypes.keys.sorted()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCapture(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let linkType = linkTypes[Int(input.byte()) % linkTypes.count]
    let sinks = AllSinks(showSecrets: false)
    var options = CaptureDecoder.Options()
    options.imapPorts = [143, 1143]
    // Small bounds, so inputs reach every eviction: idle, over the flow cap, over the total of
    // out-of-order bytes.
    options.flowIdleSeconds = 30
    options.maxFlows = 3
    options.maxPendingTotal = 4096
    let decoder = CaptureDecoder(options: options) { session, events in sinks.publish(events, session: session) }
    var time: Int64 = 1_700_000_000_000_000
    var number = 0
    while !input.isAtEnd {
        let length = input.uint16()
        time += Int64(input.byte()) * 50_000
        let frame = input.take(length)
        number += 1
        // Every fourth packet claims a longer wire length, as a snap length cut does.
        let wire = number % 4 == 0 ? frame.count + 100 : frame.count
        decoder.process(CapturedPacket(number: number, time: Timestamp(microseconds: time), wireLength: wire,
                                       data: frame), linkType: linkType)
    }
    decoder.finish()
    sinks.finish()
    return 0
}

@_cdecl("FuzzCapture_main")
public func fuzzCaptureMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in fuzzCapture(data, size) }
}
