import IMAPCore
import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

/// Carries out one session's `FaultEngine` effects on its two relay handlers, on the session's
/// event loop: writes what the engine lets through, feeds the decoder what each leg was really
/// sent (imapscope's own bytes as `proxy`), closes, resets, stops reading, and wakes the engine
/// at its deadlines. It exists only when `--fault` rules were given.
final class FaultDriver {
    private var engine: FaultEngine
    private let tap: SessionTap
    private let loop: EventLoop
    /// The relay handler in each leg's channel (it writes to that leg's peer).
    private weak var clientSide: RelayHandler?
    private weak var serverSide: RelayHandler?
    private var ended = false
    /// The engine's clock (monotonic) against the events' (wall time), read once: events the
    /// driver decodes are stamped from the engine's time, so a 2 s delay is 2 s in the log too.
    private let monotonicStart: UInt64
    private let wallStart: Timestamp

    init(rules: [FaultRule], tap: SessionTap, loop: EventLoop) {
        self.tap = tap
        self.loop = loop
        monotonicStart = NIODeadline.now().uptimeNanoseconds
        wallStart = SessionTap.now()
        engine = FaultEngine(rules: rules, session: tap.number, now: monotonicStart)
    }

    private func wallTime(_ now: UInt64) -> Timestamp {
        Timestamp(microseconds: wallStart.microseconds + Int64((now &- monotonicStart) / 1000))
    }

    func attach(clientSide: RelayHandler, serverSide: RelayHandler) {
        self.clientSide = clientSide
        self.serverSide = serverSide
        perform(engine.begin(), at: monotonicStart)
    }

    func admitsRead(from leg: ProxyLeg) -> Bool { engine.admitsRead(from: leg) }

    /// Bytes a leg's peer sent.
    func received(from leg: ProxyLeg, _ buffer: ByteBuffer) {
        guard !ended else { return }
        let now = NIODeadline.now().uptimeNanoseconds
        perform(engine.received(from: leg, Array(buffer.readableBytesView), now: now), at: now)
    }

    /// A leg's peer closed or half-closed: what waits for the other side goes first.
    func peerEnded(_ leg: ProxyLeg) {
        guard !ended else { return }
        let now = NIODeadline.now().uptimeNanoseconds
        perform(engine.peerEnded(leg), at: now)
    }

    /// A leg's channel closed: no more deadlines.
    func channelEnded() { ended = true }

    private func handler(for leg: ProxyLeg) -> RelayHandler? { leg == .client ? clientSide : serverSide }

    private func perform(_ effects: [FaultEffect], at now: UInt64) {
        let time = wallTime(now)
        for effect in effects {
            switch effect {
            case .forward(let leg, let bytes):
                handler(for: leg)?.faultWrite(bytes)
                tap.feed(leg.other.direction, bytes, time: time)
            case .say(let leg, let bytes):
                handler(for: leg)?.faultWrite(bytes)
                tap.proxySent(bytes, time: time)
            case .applied(let report):
                tap.fault(report, time: time)
            case .close:
                ended = true
                tap.finish(reason: "imapscope closed both legs: a fault rule", time: time)
                clientSide?.faultClose(reset: false)
                serverSide?.faultClose(reset: false)
            case .reset:
                ended = true
                tap.finish(reason: "imapscope reset both legs: a fault rule", time: time)
                clientSide?.faultClose(reset: true)
                serverSide?.faultClose(reset: true)
            case .stall:
                break  // the engine drops what comes from now on
            case .wake(let at):
                loop.assumeIsolated().scheduleTask(deadline: .uptimeNanoseconds(at)) { [self] in
                    guard !ended else { return }
                    let now = NIODeadline.now().uptimeNanoseconds
                    perform(engine.tick(now: now), at: now)
                }
            }
        }
        // Bytes held for the client may have gone: the server may be read again.
        if engine.admitsRead(from: .server) { serverSide?.faultResumeReading() }
    }
}
