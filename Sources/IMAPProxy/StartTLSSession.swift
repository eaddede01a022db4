import IMAPCore
import NIOCore
import NIOSSL

/// Carries out one proxied session's `StartTLSMachine`: feeds it what the `StartTLSHandler` on
/// each leg sees and performs the actions it answers with. Both legs run on the client's event
/// loop, and this object is touched there only (which is what makes the unchecked Sendable true).
final class StartTLSSession: @unchecked Sendable {
    private var machine: StartTLSMachine
    private let tap: SessionTap
    /// imapscope as the client's TLS server (a leaf from its CA).
    private let clientLegTLS: NIOSSLContext?
    /// imapscope as the server's TLS client.
    private let serverLegTLS: NIOSSLContext?
    /// The name the server's certificate must carry (nil for an address).
    private let serverHostname: String?
    private let insecure: Bool
    private let onServerLegUpgraded: () -> Void
    /// Each leg's handler, once its connection is up (happy eyeballs may try more than one).
    private var legs: [ProxyLeg: ChannelHandlerContext] = [:]
    private var timer: Scheduled<Void>?
    /// Legs whose relay and tap were handed bytes not yet followed by a read-complete.
    private var unflushed: Set<ProxyLeg> = []
    /// Actions from an input that arrived while others were being carried out (a close
    /// reports its leg's end at once): they run after those, in order.
    private var queued: [StartTLSAction] = []
    private var executing = false

    init(
        machine: StartTLSMachine, tap: SessionTap, clientLegTLS: NIOSSLContext?, serverLegTLS: NIOSSLContext?,
        serverHostname: String?, insecure: Bool, onServerLegUpgraded: @escaping () -> Void
    ) {
        self.machine = machine
        self.tap = tap
        self.clientLegTLS = clientLegTLS
        self.serverLegTLS = serverLegTLS
        self.serverHostname = serverHostname
        self.insecure = insecure
        self.onServerLegUpgraded = onServerLegUpgraded
    }

    var isPassthrough: Bool { machine.isPassthrough }

    /// Whether `context` is its leg's live connection (not an attempt happy eyeballs dropped).
    func isLive(_ context: ChannelHandlerContext, _ leg: ProxyLeg) -> Bool { legs[leg] === context }

    // MARK: Inputs (from the leg handlers)

    func connected(_ leg: ProxyLeg, _ context: ChannelHandlerContext) {
        guard legs[leg] == nil else { return }
        legs[leg] = context
        run(machine.handle(.connected(leg)))
    }

    func removed(_ leg: ProxyLeg, _ context: ChannelHandlerContext) {
        guard legs[leg] === context else { return }
        legs[leg] = nil
        if legs.isEmpty { cancelTimer() }
    }

    func read(_ leg: ProxyLeg, _ buffer: ByteBuffer) {
        run(machine.read(leg, Array(buffer.readableBytesView)), reading: leg, buffer)
    }

    func handle(_ input: StartTLSMachine.Input) { run(machine.handle(input)) }

    /// An error's reason as a `tls` event and a BYE tell it.
    func explain(_ error: Error, on leg: ProxyLeg) -> String {
        guard leg == .server, let context = legs[.server] else { return ClientTLSFailure.explain(error) }
        return CertificateDiagnosis.explain(error, pipeline: context.pipeline.syncOperations, host: serverHostname)
    }

    // MARK: Actions

    private func run(_ actions: [StartTLSAction], reading leg: ProxyLeg? = nil, _ buffer: ByteBuffer? = nil) {
        guard !executing else {
            queued += actions
            return
        }
        executing = true
        defer { executing = false }
        for action in actions { perform(action, buffer) }
        while !queued.isEmpty {
            let next = queued.removeFirst()
            perform(next, nil)
        }
        // The leg being read gets its read-complete from NIO; the other one's comes from here.
        for other in unflushed where other != leg { flush(other) }
    }

    private func perform(_ action: StartTLSAction, _ buffer: ByteBuffer?) {
        switch action {
        case .forward(let leg, let range):
            let start = (buffer?.readerIndex ?? 0) + range.lowerBound
            guard let slice = buffer?.getSlice(at: start, length: range.count) else { return }
            pass(slice, on: leg)
        case .release(let leg, let bytes):
            pass(ByteBuffer(bytes: bytes), on: leg)
        case .hold, .drop:
            break  // the machine keeps a copy, or nothing is to be done with them
        case .consume(let leg, let bytes):
            flushAll()
            tap.feed(leg.direction, ByteBuffer(bytes: bytes))
        case .send(let leg, let bytes):
            flushAll()
            if leg == .client { tap.proxySent(String(decoding: bytes, as: UTF8.self)) }
            legs[leg]?.writeAndFlush(NIOAny(ByteBuffer(bytes: bytes)), promise: nil)
        case .startTLS(let leg):
            flushAll()
            startTLS(on: leg)
        case .refuseInjection(let leg, let count):
            flushAll()
            let what = "\(count) plaintext byte(s) from the \(leg.rawValue) after STARTTLS were not relayed"
            tap.lint("starttls-injection", what + "; the session is closed")
            end(reason: "plaintext after STARTTLS")
        case .report(let leg, let phase):
            report(leg, phase)
        case .plaintextResumes:
            tap.tlsEstablished()
        case .serverLegUpgraded:
            tap.upstreamUpgraded()
            onServerLegUpgraded()
        case .fail(.endSession(let reason)):
            flushAll()
            end(reason: reason)
        case .fail(.byeToClient(let reason)):
            flushAll()
            if let client = legs[.client]?.channel { ProxyServer.refuse(client, tap: tap, reason: reason) }
            legs[.server]?.close(promise: nil)
        case .setDeadline(let amount):
            cancelTimer()
            guard let loop = legs.values.first?.eventLoop else { return }
            timer = loop.assumeIsolated().scheduleTask(in: amount) { [self] in
                timer = nil
                handle(.deadlineExpired)
            }
        case .cancelDeadline:
            cancelTimer()
        case .lint(let finding):
            // After the line it is about, which the tap decodes at the flush.
            flushAll()
            switch finding {
            case .startTLSOffered: tap.lint(.startTLSOffered)
            case .clientLegPlaintext(let command, let refused):
                tap.lint(.clientLegPlaintext(command: command, refused: refused))
            }
        }
    }

    /// Hands bytes to the leg's next handlers: the tap and the relay.
    private func pass(_ bytes: ByteBuffer, on leg: ProxyLeg) {
        guard let context = legs[leg] else { return }
        context.fireChannelRead(NIOAny(bytes))
        unflushed.insert(leg)
    }

    private func flush(_ leg: ProxyLeg) {
        guard unflushed.remove(leg) != nil else { return }
        legs[leg]?.fireChannelReadComplete()
    }

    /// What was relayed so far reaches the relay and the tap before anything else happens.
    private func flushAll() { for leg in unflushed { flush(leg) } }

    private func startTLS(on leg: ProxyLeg) {
        guard let context = legs[leg] else { return }
        do {
            let pipeline = context.pipeline.syncOperations
            switch (leg, serverLegTLS, clientLegTLS) {
            case (.server, let tls?, _):
                try pipeline.addTLSHandler(try NIOSSLClientHandler(context: tls, serverHostname: serverHostname))
            case (.client, _, let tls?):
                try pipeline.addTLSHandler(NIOSSLServerHandler(context: tls))
            default:
                queued += machine.handle(.error(leg, "no TLS configuration for the \(leg.rawValue) leg"))
            }
        } catch {
            queued += machine.handle(.error(leg, "could not start TLS: \(error)"))
        }
    }

    private func report(_ leg: ProxyLeg, _ phase: TLSReport.Phase) {
        var report = TLSReport(leg: leg, phase: phase)
        switch phase {
        case .established, .upgradedByImapscope:
            if let context = legs[leg] { report.details = TLSHelloObserver.details(context.pipeline.syncOperations) }
            if leg == .server { report.verification = insecure ? .disabled : .verified }
        case .failed:
            break
        }
        tap.tls(report)
    }

    private func end(reason: String) {
        tap.finish(reason: reason)
        legs[.client]?.close(promise: nil)
        legs[.server]?.close(promise: nil)
    }

    private func cancelTimer() {
        timer?.cancel()
        timer = nil
    }
}
