// JSON-lines bridge between Python and the real TVM (@ton/sandbox Executor) and the Tolk
// compiler (@ton/tolk-js). Stateless: every request carries the BOCs it needs; all chain state
// (accounts, time, lt, message queue, history) lives in Python.
//
// Protocol: one JSON request per line on stdin: {"id": <any>, "op": "<name>", ...params}
// one JSON response per line on stdout: {"id", "ok": true, "result"} | {"id", "ok": false, "error"}
// Every big number is a decimal string. Nothing else is ever written to stdout.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { createHash } from 'node:crypto';

const require = createRequire(import.meta.url);

// @ton/core hashes every cell it deserializes with @ton/crypto's pure-JS sha256_sync (hex
// strings + jssha). Same function, computed by node:crypto: identical digests, ~10x faster.
const sha256Module = require('@ton/crypto/dist/primitives/sha256');
sha256Module.sha256_sync = (source) =>
    createHash('sha256')
        .update(typeof source === 'string' ? Buffer.from(source, 'utf-8') : source)
        .digest();
const core = require('@ton/core');
const sandbox = require('@ton/sandbox');
const tolk = require('@ton/tolk-js');

const { Address, Cell, beginCell, loadTransaction, loadShardAccount, storeShardAccount, parseTuple } = core;

// Anything a library prints must not corrupt the protocol stream.
const realStdoutWrite = process.stdout.write.bind(process.stdout);
console.log = (...args) => process.stderr.write(args.map(String).join(' ') + '\n');
console.info = console.log;
console.warn = console.log;
console.error = console.log;

let executorPromise = null;
function getExecutor() {
    if (executorPromise === null) {
        executorPromise = sandbox.Executor.create();
    }
    return executorPromise;
}

let configB64 = sandbox.defaultConfig;
let getterConfigB64 = null; // lazily: trimmedConfig(configB64)

// Config params a get-method never needs but that make the config ~30x bigger (validator sets
// 32-37, 39 and the suspended-address list 44). The emulator re-parses the whole config on every
// get-method call, so dropping them makes get-methods ~10x faster. Prices (18, 20, 21, 24, 25),
// limits (43) and everything else stay.
const GETTER_DROPPED_PARAMS = new Set([32, 33, 34, 35, 36, 37, 39, 44]);
function trimmedConfig(b64cfg) {
    const { Dictionary } = core;
    const dict = Dictionary.loadDirect(Dictionary.Keys.Int(32), Dictionary.Values.Cell(), cellOf(b64cfg));
    const out = Dictionary.empty(Dictionary.Keys.Int(32), Dictionary.Values.Cell());
    for (const k of dict.keys()) {
        if (!GETTER_DROPPED_PARAMS.has(k)) out.set(k, dict.get(k));
    }
    return beginCell().storeDictDirect(out).endCell().toBoc({ idx: false }).toString('base64');
}
function getterConfig() {
    if (getterConfigB64 === null) getterConfigB64 = trimmedConfig(configB64);
    return getterConfigB64;
}
const ZERO_SEED = Buffer.alloc(32);

const VERBOSITY_NUM = {
    short: 0,
    full: 1,
    full_location: 2,
    full_location_gas: 3,
    full_location_stack: 4,
    full_location_stack_verbose: 5,
};

function verbosityOf(req) {
    const v = req.verbosity ?? 'short';
    if (!(v in VERBOSITY_NUM)) {
        throw new Error(`unknown verbosity ${v}`);
    }
    return v;
}

function seedOf(req) {
    if (req.randomSeed === undefined || req.randomSeed === null || req.randomSeed === '') {
        return ZERO_SEED;
    }
    const b = Buffer.from(req.randomSeed, 'hex');
    if (b.length !== 32) {
        throw new Error('randomSeed must be 32 bytes hex');
    }
    return b;
}

const s = (x) => (x === undefined || x === null ? null : x.toString());
const b64 = (cell) => cell.toBoc({ idx: false, crc32: false }).toString('base64');
const cellOf = (boc) => Cell.fromBase64(boc);
const shardAccountB64 = (sa) => b64(beginCell().store(storeShardAccount(sa)).endCell());

function addrStr(a) {
    if (a === undefined || a === null) {
        return null;
    }
    if (Address.isAddress(a)) {
        return a.toRawString();
    }
    return a.toString(); // ExternalAddress: "External<bits:value>"
}

function messageSummary(msg, cell) {
    const info = msg.info;
    const out = {
        kind: info.type,
        boc: cell === null ? null : b64(cell),
        src: addrStr(info.src),
        dest: addrStr(info.dest),
        value: null,
        fwdFee: null,
        bounce: false,
        bounced: false,
        createdLt: null,
        createdAt: null,
        bodyBoc: b64(msg.body),
        op: msg.body.bits.length >= 32 ? msg.body.beginParse().preloadUint(32) : null,
        hasStateInit: msg.init !== undefined && msg.init !== null,
    };
    if (info.type === 'internal') {
        out.value = info.value.coins.toString();
        out.fwdFee = info.forwardFee.toString();
        out.bounce = info.bounce;
        out.bounced = info.bounced;
        out.createdLt = info.createdLt.toString();
        out.createdAt = info.createdAt;
    } else if (info.type === 'external-out') {
        out.createdLt = info.createdLt.toString();
        out.createdAt = info.createdAt;
    }
    return out;
}

// Reads the Toncoin balance straight from a ShardAccount BOC without deserializing (and hashing)
// every cell of the account's state: the hot path after every transaction.
function fastBalance(b64) {
    const buf = Buffer.from(b64, 'base64');
    if (buf.readUInt32BE(0) !== 0xb5ee9c72) throw new Error('bad BOC magic');
    let p = 4;
    const flags = buf[p++];
    const hasIdx = (flags & 0x80) !== 0;
    const size = flags & 7;
    const offBytes = buf[p++];
    const readN = (n) => {
        let v = 0;
        for (let i = 0; i < n; i++) v = v * 256 + buf[p++];
        return v;
    };
    const cellsCount = readN(size);
    const rootsCount = readN(size);
    readN(size); // absent
    readN(offBytes); // total cells size
    const roots = [];
    for (let i = 0; i < rootsCount; i++) roots.push(readN(size));
    if (hasIdx) p += cellsCount * offBytes;
    const cells = []; // {data, refs}
    const cellAt = (index) => {
        while (cells.length <= index) {
            const d1 = buf[p];
            const d2 = buf[p + 1];
            p += 2;
            const refsCount = d1 & 7;
            if (d1 & 16) {
                let mask = d1 >> 5;
                let levels = 0;
                while (mask) { levels += mask & 1; mask >>= 1; }
                p += (levels + 1) * 34;
            }
            const dataLen = (d2 >> 1) + (d2 & 1);
            const data = buf.subarray(p, p + dataLen);
            p += dataLen;
            const refs = [];
            for (let i = 0; i < refsCount; i++) refs.push(readN(size));
            cells.push({ data, refs, exotic: (d1 & 8) !== 0 });
        }
        return cells[index];
    };
    const root = cellAt(roots[0]);
    const acc = cellAt(root.refs[0]);
    if (acc.exotic) throw new Error('exotic account cell');
    let bit = 0;
    const d = acc.data;
    const readBits = (n) => {
        let v = 0n;
        for (let i = 0; i < n; i++, bit++) {
            v = (v << 1n) | BigInt((d[bit >> 3] >> (7 - (bit & 7))) & 1);
        }
        return v;
    };
    const readVarUint = (lenBits) => readBits(Number(readBits(lenBits)) * 8);
    if (readBits(1) === 0n) return 0n; // account_none
    // addr: addr_std$10 anycast:(Maybe Anycast) workchain_id:int8 address:bits256
    const tag = readBits(2);
    if (tag !== 2n) throw new Error('only addr_std accounts are supported');
    if (readBits(1) === 1n) readBits(Number(readBits(5)));
    readBits(8 + 256);
    readVarUint(3); // used cells
    readVarUint(3); // used bits
    const extra = readBits(3);
    if (extra === 1n) readBits(256);
    else if (extra !== 0n) throw new Error('bad storage extra info');
    readBits(32); // last_paid
    if (readBits(1) === 1n) readVarUint(4); // due_payment
    readBits(64); // last_trans_lt
    return readVarUint(4);
}

// Memo of parsed accounts keyed by their exact BOC string (a pure-function cache: the bridge
// stays stateless). Get-methods on an unchanged account skip deserialization entirely.
const ACCOUNT_CACHE_MAX = 256;
const accountCache = new Map();
function accountInfo(b64sa) {
    const hit = accountCache.get(b64sa);
    if (hit !== undefined) {
        accountCache.delete(b64sa);
        accountCache.set(b64sa, hit);
        return hit;
    }
    const info = accountSummary(b64sa);
    accountCache.set(b64sa, info);
    if (accountCache.size > ACCOUNT_CACHE_MAX) {
        accountCache.delete(accountCache.keys().next().value);
    }
    return info;
}

function accountSummary(shardAccountBocB64) {
    const sa = loadShardAccount(cellOf(shardAccountBocB64).beginParse());
    const acc = sa.account;
    if (acc === undefined || acc === null) {
        return { status: 'nonexist', balance: '0', codeBoc: null, dataBoc: null, lastPaid: 0 };
    }
    const st = acc.storage.state;
    let status = st.type; // 'uninit' | 'active' | 'frozen'
    let codeBoc = null;
    let dataBoc = null;
    if (st.type === 'active') {
        codeBoc = st.state.code ? b64(st.state.code) : null;
        dataBoc = st.state.data ? b64(st.state.data) : null;
    }
    return {
        status,
        balance: acc.storage.balance.coins.toString(),
        codeBoc,
        dataBoc,
        lastPaid: acc.storageStats.lastPaid,
        address: acc.addr.toRawString(),
        addressFriendly: acc.addr.toString(),
    };
}

const STATUS = { uninitialized: 'uninit', 'non-existing': 'nonexist', active: 'active', frozen: 'frozen' };

function transactionSummary(txB64, shardAccountB64) {
    const txCell = cellOf(txB64);
    const tx = loadTransaction(txCell.beginParse());
    const d = tx.description;
    if (d.type !== 'generic') {
        throw new Error(`unexpected transaction type ${d.type}`);
    }
    const cp = d.computePhase;
    const ap = d.actionPhase ?? null;
    const outMessages = [];
    if (tx.outMessagesCount > 0) {
        const msgs = tx.raw.refs[0].beginParse();
        msgs.loadMaybeRef(); // in_msg
        const dict = msgs.loadDict(core.Dictionary.Keys.Uint(15), core.Dictionary.Values.Cell());
        for (const key of [...dict.keys()].sort((a, b) => a - b)) {
            outMessages.push(messageSummary(tx.outMessages.get(key), dict.get(key)));
        }
    }
    const balance = fastBalance(shardAccountB64);
    const inMsg = tx.inMessage ? messageSummary(tx.inMessage, null) : null;
    return {
        transactionBoc: txB64,
        hash: tx.hash().toString('hex'),
        shardAccount: shardAccountB64,
        lt: tx.lt.toString(),
        now: tx.now,
        aborted: d.aborted,
        destroyed: d.destroyed,
        computeSkipped: cp.type === 'skipped' ? cp.reason : null,
        exitCode: cp.type === 'vm' ? cp.exitCode : null,
        gasUsed: cp.type === 'vm' ? cp.gasUsed.toString() : '0',
        vmSteps: cp.type === 'vm' ? cp.vmSteps : 0,
        computeSuccess: cp.type === 'vm' ? cp.success : false,
        actionSuccess: ap ? ap.success : null,
        actionResultCode: ap ? ap.resultCode : null,
        totalActions: ap ? ap.totalActions : 0,
        totalFees: tx.totalFees.coins.toString(),
        storageFees: d.storagePhase ? d.storagePhase.storageFeesCollected.toString() : '0',
        computeFees: cp.type === 'vm' ? cp.gasFees.toString() : '0',
        actionFees: ap && ap.totalActionFees ? ap.totalActionFees.toString() : '0',
        fwdFees: ap && ap.totalFwdFees ? ap.totalFwdFees.toString() : '0',
        bounced: d.bouncePhase !== undefined && d.bouncePhase !== null,
        bouncePhase: d.bouncePhase ? d.bouncePhase.type : null,
        origStatus: STATUS[tx.oldStatus] ?? tx.oldStatus,
        endStatus: STATUS[tx.endStatus] ?? tx.endStatus,
        balance: balance.toString(),
        inMessage: inMsg,
        outMessages,
    };
}

async function runTransaction(req) {
    const ex = await getExecutor();
    const verbosity = verbosityOf(req);
    // what Executor.runTransaction does, minus parsing and re-serializing the message BOC
    const params = {
        utime: req.now,
        lt: String(req.lt),
        rand_seed: seedOf(req).toString('hex'),
        ignore_chksig: req.ignoreChksig ?? false,
        debug_enabled: req.debug ?? false,
    };
    const resp = JSON.parse(
        ex.extractString(
            ex.invoke('_emulate_with_emulator', [
                ex.getEmulatorPointer(configB64, VERBOSITY_NUM[verbosity]),
                req.libs ?? 0,
                req.shardAccount,
                req.message,
                JSON.stringify(params),
            ]),
        ),
    );
    if (resp.fail) {
        throw new Error(`emulation failed: ${resp.message ?? JSON.stringify(resp)}`);
    }
    const o = resp.output;
    const logs = splitVmLog(o.vm_log ?? '');
    if (!o.success) {
        return {
            rejected: true,
            error: o.error,
            vmExitCode: 'vm_exit_code' in o ? o.vm_exit_code : null,
            vmLog: logs.vmLog,
            debugLogs: logs.debugLog,
        };
    }
    const out = transactionSummary(o.transaction, o.shard_account);
    out.rejected = false;
    out.vmLog = verbosity !== 'short' ? logs.vmLog : null;
    out.debugLogs = req.debug ? logs.debugLog : null;
    return out;
}

// debug.print() output comes interleaved with the VM log, marked with #DEBUG#
function splitVmLog(log) {
    const vm = [];
    const debug = [];
    for (const line of log.split('\n')) {
        (line.startsWith('#DEBUG#') ? debug : vm).push(line);
    }
    return { vmLog: vm.join('\n'), debugLog: debug.join('\n') };
}

function tupleItemFromJson(item) {
    switch (item.type) {
        case 'int':
            return { type: 'int', value: BigInt(item.value) };
        case 'null':
            return { type: 'null' };
        case 'nan':
            return { type: 'nan' };
        case 'cell':
            return { type: 'cell', cell: cellOf(item.boc) };
        case 'slice':
            return { type: 'slice', cell: cellOf(item.boc) };
        case 'builder':
            return { type: 'builder', cell: cellOf(item.boc) };
        case 'tuple':
            return { type: 'tuple', items: item.items.map(tupleItemFromJson) };
        default:
            throw new Error(`unknown stack item type ${item.type}`);
    }
}

function tupleItemToJson(item) {
    switch (item.type) {
        case 'int':
            return { type: 'int', value: item.value.toString() };
        case 'null':
            return { type: 'null' };
        case 'nan':
            return { type: 'nan' };
        case 'cell':
        case 'slice':
        case 'builder':
            return { type: item.type, boc: b64(item.cell) };
        case 'tuple':
            return { type: 'tuple', items: item.items.map(tupleItemToJson) };
        default:
            throw new Error(`unknown stack item type ${item.type}`);
    }
}


async function runGetMethod(req) {
    const ex = await getExecutor();
    let codeBoc;
    let dataBoc;
    let address;
    let balance;
    if (req.shardAccount) {
        const acc = accountInfo(req.shardAccount);
        if (acc.status !== 'active' || acc.codeBoc === null || acc.dataBoc === null) {
            throw new Error('account is not active');
        }
        codeBoc = acc.codeBoc;
        dataBoc = acc.dataBoc;
        address = acc.addressFriendly;
        balance = acc.balance;
    } else {
        codeBoc = req.codeBoc;
        dataBoc = req.dataBoc;
        address = Address.parse(req.address).toString();
        balance = String(req.balance ?? '0');
    }
    const methodId = typeof req.method === 'number' ? req.method : core.getMethodId(req.method);
    const verbosity = verbosityOf(req);
    // what Executor.runGetMethod does, minus re-serializing code/data on every call
    const params = {
        code: codeBoc,
        data: dataBoc,
        verbosity: VERBOSITY_NUM[verbosity],
        libs: req.libs ?? '',
        address,
        unixtime: req.now,
        balance,
        rand_seed: seedOf(req).toString('hex'),
        gas_limit: String(req.gasLimit ?? '10000000'),
        method_id: methodId,
        debug_enabled: req.debug ?? false,
    };
    const stack = core.serializeTuple((req.stack ?? []).map(tupleItemFromJson));
    const config = req.fullConfig ? configB64 : getterConfig();
    const resp = JSON.parse(
        ex.extractString(
            ex.invoke('_run_get_method', [JSON.stringify(params), b64(stack), config]),
        ),
    );
    if (resp.fail) {
        throw new Error(`get method emulation failed: ${resp.message ?? JSON.stringify(resp)}`);
    }
    const o = resp.output;
    if (!o.success) {
        throw new Error(`get method emulation failed: ${o.error}`);
    }
    const ok = o.vm_exit_code === 0 || o.vm_exit_code === 1;
    const logs = splitVmLog(o.vm_log ?? '');
    return {
        exitCode: o.vm_exit_code,
        gasUsed: String(o.gas_used),
        stack: ok ? parseTuple(cellOf(o.stack)).map(tupleItemToJson) : [],
        vmLog: verbosity !== 'short' ? logs.vmLog : null,
        debugLogs: req.debug ? logs.debugLog : null,
    };
}

async function compile(req) {
    const entry = path.resolve(req.entry);
    if (!fs.existsSync(entry)) {
        throw new Error(`no such file: ${entry}`);
    }
    const res = await tolk.runTolkCompiler({
        entrypointFileName: entry,
        fsReadCallback: (p) => fs.readFileSync(path.resolve(path.dirname(entry), p), 'utf-8'),
        optimizationLevel: req.optimizationLevel ?? 2,
        withStackComments: req.withStackComments ?? false,
        withSrcLineComments: req.withSrcLineComments ?? false,
        experimentalOptions: req.experimentalOptions ?? '',
        pathMappings: req.pathMappings ?? {},
    });
    if (res.status !== 'ok') {
        return { ok: false, message: res.message };
    }
    return {
        ok: true,
        codeBoc64: res.codeBoc64,
        codeHashHex: res.codeHashHex,
        fiftCode: res.fiftCode,
        tolkVersion: res.tolkVersion,
        stderr: res.stderr,
        sources: res.sourcesSnapshot.map((x) => path.resolve(path.dirname(entry), x.filename)),
    };
}

function createAccount(req) {
    const sa = sandbox.createShardAccount({
        address: Address.parse(req.address),
        code: cellOf(req.codeBoc),
        data: cellOf(req.dataBoc),
        balance: BigInt(req.balance ?? '0'),
        workchain: 0,
    });
    sa.account.storageStats.lastPaid = req.lastPaid ?? 0;
    // The sandbox leaves `used` at zero; the emulator updates it incrementally, so a zero
    // starting point underflows (and aborts) as soon as the balance needs fewer bytes.
    // Count the account storage's unique cells and bits as the chain itself does.
    const root = core.beginCell().store(core.storeAccountStorage(sa.account.storage)).endCell();
    sa.account.storageStats.used = storageUsed(root);
    return { shardAccount: shardAccountB64(sa) };
}

function storageUsed(root) {
    const seen = new Set();
    let cells = 0n;
    let bits = 0n;
    const visit = (cell) => {
        const key = cell.hash().toString('hex');
        if (seen.has(key)) return;
        seen.add(key);
        cells += 1n;
        bits += BigInt(cell.bits.length);
        cell.refs.forEach(visit);
    };
    visit(root);
    return { cells, bits };
}

const handlers = {
    ping: async () => ({ pong: true }),
    version: async () => ({
        tolkVersion: await tolk.getTolkCompilerVersion(),
        sandbox: require('@ton/sandbox/package.json').version,
        core: require('@ton/core/package.json').version,
        emulator: (await getExecutor()).getVersion(),
    }),
    config: async () => ({ configBoc: sandbox.defaultConfig, seqno: sandbox.defaultConfigSeqno }),
    setConfig: async (req) => {
        if (req.config === 'default') configB64 = sandbox.defaultConfig;
        else if (req.config === 'slim') configB64 = require('@ton/sandbox/dist/config/slimConfig').slimConfig;
        else configB64 = req.config;
        getterConfigB64 = null;
        return {};
    },
    emptyAccount: async (req) => ({
        shardAccount: shardAccountB64(sandbox.createEmptyShardAccount(Address.parse(req.address))),
    }),
    createAccount: async (req) => createAccount(req),
    parseAccount: async (req) => accountInfo(req.shardAccount),
    balance: async (req) => ({ balance: fastBalance(req.shardAccount).toString() }),
    runTransaction,
    runGetMethod,
    compile,
};

async function handle(line) {
    let req;
    try {
        req = JSON.parse(line);
    } catch (e) {
        return { id: null, ok: false, error: `bad JSON request: ${e.message}` };
    }
    const h = handlers[req.op];
    if (h === undefined) {
        return { id: req.id ?? null, ok: false, error: `unknown op ${req.op}` };
    }
    try {
        return { id: req.id ?? null, ok: true, result: await h(req) };
    } catch (e) {
        return { id: req.id ?? null, ok: false, error: e && e.stack ? e.stack : String(e) };
    }
}

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
let chain = Promise.resolve();
rl.on('line', (line) => {
    if (line.trim() === '') return;
    chain = chain.then(async () => {
        const resp = await handle(line);
        realStdoutWrite(JSON.stringify(resp) + '\n');
    });
});
rl.on('close', () => {
    chain.then(() => process.exit(0));
});
