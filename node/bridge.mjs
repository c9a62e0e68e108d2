// JSON-lines bridge between Python and the real TVM (@ton/sandbox Executor) and the Tolk
// compiler (@ton/tolk-js). Two ways in:
// - stateless ops (runTransaction, runGetMethod, ...): every request carries the BOCs it needs;
// - chain ops (chain*): the embedded chain's accounts live here, keyed by a chain id that
//   Python allocates; whole traces (the message queue) run here and only small per-transaction
//   summaries go back, so no account state crosses the pipe per transaction. Time, lt and the
//   history Python wants to keep stay in Python.
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
// The emulator's wasm build calls every C++ function that may throw through a JS trampoline
// (invoke_*) that looks the callee up with WebAssembly.Table.prototype.get, a slow builtin:
// ~8 % of a transaction's CPU. A per-table mirror of the entries read (dropped whenever the
// table is set or grown) returns the very same function objects.
const MIRROR = Symbol('tableMirror');
const tableProto = WebAssembly.Table.prototype;
const tableGet = tableProto.get;
const tableSet = tableProto.set;
const tableGrow = tableProto.grow;
tableProto.get = function get(index) {
    let mirror = this[MIRROR];
    if (mirror === undefined) {
        mirror = [];
        this[MIRROR] = mirror;
    }
    let fn = mirror[index];
    if (fn === undefined) {
        fn = tableGet.call(this, index);
        mirror[index] = fn;
    }
    return fn;
};
tableProto.set = function set(...args) {
    this[MIRROR] = undefined;
    return tableSet.apply(this, args);
};
tableProto.grow = function grow(...args) {
    this[MIRROR] = undefined;
    return tableGrow.apply(this, args);
};
// The memory of each wasm instance, keyed by its exported functions, so that `emulate` can
// write its arguments straight into the emulator's heap (see emulatorArgs).
const memoryOfExport = new WeakMap();
const wasmInstantiate = WebAssembly.instantiate;
WebAssembly.instantiate = async function instantiate(...args) {
    const result = await wasmInstantiate.apply(this, args);
    const instance = result instanceof WebAssembly.Instance ? result : result.instance;
    const exports = Object.values(instance.exports);
    const memory = exports.find((e) => e instanceof WebAssembly.Memory);
    if (memory !== undefined) {
        for (const e of exports) if (typeof e === 'function') memoryOfExport.set(e, memory);
    }
    return result;
};
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

// detail 'full': every BOC; 'summary': bodies of external-out messages (events) only, and
// the BOC of no message (the chain keeps the ones it still has to deliver itself).
function messageSummary(msg, cell, detail = 'full') {
    const info = msg.info;
    const full = detail === 'full';
    const out = {
        kind: info.type,
        boc: cell === null || !full ? null : b64(cell),
        src: addrStr(info.src),
        dest: addrStr(info.dest),
        value: null,
        fwdFee: null,
        bounce: false,
        bounced: false,
        createdLt: null,
        createdAt: null,
        bodyBoc: full || info.type === 'external-out' ? b64(msg.body) : null,
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

function transactionSummary(txB64, shardAccountB64, detail = 'full', deliver = null) {
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
            const msg = tx.outMessages.get(key);
            const cell = dict.get(key);
            outMessages.push(messageSummary(msg, cell, detail));
            if (deliver !== null && msg.info.type === 'internal') {
                deliver.push([msg.info.dest.toRawString(), b64(cell), msg.info.value.coins]);
            }
        }
    }
    const balance = fastBalance(shardAccountB64);
    const inMsg = tx.inMessage ? messageSummary(tx.inMessage, null, detail) : null;
    const full = detail === 'full';
    return {
        transactionBoc: full ? txB64 : null,
        hash: tx.hash().toString('hex'),
        shardAccount: deliver === null ? shardAccountB64 : undefined,
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

// -- a lean transaction reader for the chain's summaries --------------------------------------
//
// @ton/core's Cell.fromBase64 hashes every cell it reads and loadTransaction builds every
// object of the transaction; per transaction that cost a third of the emulator's own time.
// The summary needs a few fields and the BOCs of the internal messages to deliver, so this
// reads the BOC's cells as bytes (no hashes) and the TL-B fields it needs, and re-packs each
// delivered message's cells as a BOC of its own. `chainRunTraces` uses it for
// detail 'summary'; detail 'full' keeps @ton/core (and the unit tests compare the two).

function parseBocCells(buf) {
    if (buf.readUInt32BE(0) !== 0xb5ee9c72) throw new Error('bad BOC magic');
    let p = 4;
    const flags = buf[p++];
    const size = flags & 7;
    const offBytes = buf[p++];
    const readN = (n) => {
        let v = 0;
        for (let i = 0; i < n; i++) v = v * 256 + buf[p++];
        return v;
    };
    const count = readN(size);
    const rootsCount = readN(size);
    readN(size);
    readN(offBytes);
    const roots = [];
    for (let i = 0; i < rootsCount; i++) roots.push(readN(size));
    if (flags & 0x80) p += count * offBytes;
    const cells = new Array(count);
    for (let c = 0; c < count; c++) {
        const start = p;
        const d1 = buf[p];
        const d2 = buf[p + 1];
        p += 2;
        if (d1 & 16) throw new Error('BOC with stored hashes');
        const dataLen = (d2 >> 1) + (d2 & 1);
        const data = buf.subarray(p, p + dataLen);
        p += dataLen;
        const refs = [];
        for (let i = 0; i < (d1 & 7); i++) refs.push(readN(size));
        let bits = (d2 >> 1) * 8;
        if (d2 & 1) {
            const last = data[dataLen - 1];
            let tz = 0;
            while (tz < 8 && ((last >> tz) & 1) === 0) tz++;
            bits += 7 - tz;
        }
        cells[c] = { d1, d2, data, refs, bits, head: buf.subarray(start, start + 2 + dataLen) };
    }
    return { cells, root: roots[0] };
}

// The sub-DAG under `rootIdx` as a BOC of its own (base64), cells in the original
// (topological) order, so every ref still points forward.
function subBoc(cells, rootIdx) {
    const keep = new Set();
    const stack = [rootIdx];
    while (stack.length) {
        const i = stack.pop();
        if (keep.has(i)) continue;
        keep.add(i);
        for (const r of cells[i].refs) stack.push(r);
    }
    const order = [...keep].sort((a, b) => a - b);
    const index = new Map(order.map((c, i) => [c, i]));
    const n = order.length;
    const size = n < 256 ? 1 : n < 65536 ? 2 : 3;
    let total = 0;
    for (const c of order) total += cells[c].head.length + cells[c].refs.length * size;
    const offBytes = total < 256 ? 1 : total < 65536 ? 2 : total < 16777216 ? 3 : 4;
    const out = Buffer.alloc(4 + 2 + 3 * size + offBytes + size + total);
    let p = 0;
    const writeN = (v, k) => {
        for (let i = k - 1; i >= 0; i--) out[p++] = Math.floor(v / 256 ** i) % 256;
    };
    out.writeUInt32BE(0xb5ee9c72, 0);
    p = 4;
    out[p++] = size;
    out[p++] = offBytes;
    writeN(n, size);
    writeN(1, size);
    writeN(0, size);
    writeN(total, offBytes);
    writeN(0, size);
    for (const c of order) {
        const cell = cells[c];
        cell.head.copy(out, p);
        p += cell.head.length;
        for (const r of cell.refs) writeN(index.get(r), size);
    }
    return out.toString('base64');
}

class Reader {
    constructor(cells, idx) {
        this.cells = cells;
        this.cell = cells[idx];
        this.bit = 0;
        this.ref = 0;
    }
    uint(n) {
        // up to 32 bits as a number
        let v = 0;
        const d = this.cell.data;
        for (let i = 0; i < n; i++, this.bit++) v = v * 2 + ((d[this.bit >> 3] >> (7 - (this.bit & 7))) & 1);
        return v;
    }
    big(n) {
        let v = 0n;
        while (n > 0) {
            const k = Math.min(n, 32);
            v = (v << BigInt(k)) | BigInt(this.uint(k));
            n -= k;
        }
        return v;
    }
    int(n) {
        const v = this.big(n);
        return Number(v >= 1n << BigInt(n - 1) ? v - (1n << BigInt(n)) : v);
    }
    flag() {
        return this.uint(1) === 1;
    }
    skip(n) {
        this.bit += n;
    }
    varuint(lenBits) {
        return this.big(this.uint(lenBits) * 8);
    }
    coins() {
        return this.varuint(4);
    }
    nextRef() {
        return this.cell.refs[this.ref++];
    }
    hex(bytes) {
        let s = '';
        for (let i = 0; i < bytes; i++) s += this.uint(8).toString(16).padStart(2, '0');
        return s;
    }
    left() {
        return this.cell.bits - this.bit;
    }
    currencies() {
        const coins = this.coins();
        if (this.flag()) this.nextRef();
        return coins;
    }
    addressInt() {
        const tag = this.uint(2);
        if (tag === 0) return null;
        if (tag !== 2) throw new Error('only addr_std addresses are supported');
        if (this.flag()) this.skip(this.uint(5));
        const wc = this.int(8);
        return `${wc}:${this.hex(32)}`;
    }
    addressExt() {
        const tag = this.uint(2);
        if (tag === 0) return null;
        if (tag !== 1) throw new Error('bad external address');
        const bits = this.uint(9);
        return `External<${bits}:${this.big(bits)}>`;
    }
}

const ACC_STATUS = ['uninit', 'frozen', 'active', 'nonexist'];
const SKIP_REASON = ['no-state', 'bad-state', 'no-gas'];

// A Message: the summary messageSummary gives for detail 'summary' (and, with `withBody`,
// an internal message's body too).
function leanMessage(cells, idx, withBody = false) {
    const r = new Reader(cells, idx);
    const out = {
        kind: null, boc: null, src: null, dest: null, value: null, fwdFee: null, bounce: false,
        bounced: false, createdLt: null, createdAt: null, bodyBoc: null, op: null, hasStateInit: false,
    };
    if (r.uint(1) === 0) {
        out.kind = 'internal';
        r.skip(1);
        out.bounce = r.flag();
        out.bounced = r.flag();
        out.src = r.addressInt();
        out.dest = r.addressInt();
        out.value = r.currencies().toString();
        r.coins();
        out.fwdFee = r.coins().toString();
        out.createdLt = r.big(64).toString();
        out.createdAt = r.uint(32);
    } else if (r.uint(1) === 0) {
        out.kind = 'external-in';
        out.src = r.addressExt();
        out.dest = r.addressInt();
        r.coins();
    } else {
        out.kind = 'external-out';
        out.src = r.addressInt();
        out.dest = r.addressExt();
        out.createdLt = r.big(64).toString();
        out.createdAt = r.uint(32);
    }
    if (r.flag()) {
        out.hasStateInit = true;
        if (r.flag()) r.nextRef();
        else {
            if (r.flag()) r.skip(5);
            if (r.flag()) r.skip(2);
            for (let i = 0; i < 3; i++) if (r.flag()) r.nextRef();
        }
    }
    let body = r;
    let bodyRef = null;
    if (r.flag()) {
        bodyRef = r.nextRef();
        body = new Reader(cells, bodyRef);
    }
    if (body.left() >= 32) out.op = body.uint(32);
    if (out.kind === 'external-out' || withBody) {
        // events: the Python side decodes their bodies
        out.bodyBoc = bodyRef !== null
            ? subBoc(cells, bodyRef)
            : b64(core.loadMessage(cellOf(subBoc(cells, idx)).beginParse()).body);
    }
    return out;
}

// Values of a HashmapE with `n`-bit keys whose values are refs, in key order.
function hashmapRefs(cells, idx, n, out) {
    const r = new Reader(cells, idx);
    let len;
    if (r.uint(1) === 0) {
        len = 0;
        while (r.uint(1) === 1) len++;
        r.skip(len);
    } else {
        const lenBits = Math.ceil(Math.log2(n + 1));
        if (r.uint(1) === 0) {
            len = r.uint(lenBits);
            r.skip(len);
        } else {
            r.skip(1);
            len = r.uint(lenBits);
        }
    }
    const rest = n - len;
    if (rest === 0) {
        out.push(r.nextRef());
    } else {
        hashmapRefs(cells, r.nextRef(), rest - 1, out);
        hashmapRefs(cells, r.nextRef(), rest - 1, out);
    }
}

function leanTransaction(txB64, shardAccountB64, deliver, withBodies = false) {
    const { cells, root } = parseBocCells(Buffer.from(txB64, 'base64'));
    const t = new Reader(cells, root);
    if (t.uint(4) !== 0b0111) throw new Error('not a transaction');
    t.skip(256);
    const lt = t.big(64);
    t.skip(256 + 64);
    const now = t.uint(32);
    t.skip(15);
    const origStatus = ACC_STATUS[t.uint(2)];
    const endStatus = ACC_STATUS[t.uint(2)];
    const msgs = new Reader(cells, t.nextRef());
    const totalFees = t.currencies();
    t.nextRef(); // state update
    let inMessage = null;
    if (msgs.flag()) inMessage = leanMessage(cells, msgs.nextRef(), withBodies);
    const outMessages = [];
    if (msgs.flag()) {
        const refs = [];
        hashmapRefs(cells, msgs.nextRef(), 15, refs);
        for (const idx of refs) {
            const m = leanMessage(cells, idx, withBodies);
            outMessages.push(m);
            if (m.kind === 'internal') deliver.push([m.dest, subBoc(cells, idx), m.value]);
        }
    }
    const d = new Reader(cells, t.nextRef());
    if (d.uint(4) !== 0) throw new Error('unexpected transaction type');
    d.skip(1);
    let storageFees = 0n;
    if (d.flag()) {
        storageFees = d.coins();
        if (d.flag()) d.coins();
        if (d.flag()) d.skip(1);
    }
    if (d.flag()) {
        if (d.flag()) d.coins();
        d.currencies();
    }
    let computeSkipped = null;
    let exitCode = null;
    let gasUsed = 0n;
    let vmSteps = 0;
    let computeSuccess = false;
    let computeFees = 0n;
    if (!d.flag()) {
        const reason = d.uint(2);
        computeSkipped = reason < 3 ? SKIP_REASON[reason] : d.flag() ? 'unknown' : 'suspended';
    } else {
        computeSuccess = d.flag();
        d.skip(2);
        computeFees = d.coins();
        const vm = new Reader(cells, d.nextRef());
        gasUsed = vm.varuint(3);
        vm.varuint(3);
        if (vm.flag()) vm.varuint(2);
        vm.skip(8);
        exitCode = vm.int(32);
        if (vm.flag()) vm.skip(32);
        vmSteps = vm.uint(32);
    }
    let actionSuccess = null;
    let actionResultCode = null;
    let totalActions = 0;
    let actionFees = 0n;
    let fwdFees = 0n;
    if (d.flag()) {
        const a = new Reader(cells, d.nextRef());
        actionSuccess = a.flag();
        a.skip(2);
        if (a.flag()) a.skip(1);
        if (a.flag()) fwdFees = a.coins();
        if (a.flag()) actionFees = a.coins();
        actionResultCode = a.int(32);
        if (a.flag()) a.skip(32);
        totalActions = a.uint(16);
    }
    const aborted = d.flag();
    let bouncePhase = null;
    if (d.flag()) {
        if (d.flag()) {
            bouncePhase = 'ok';
            d.varuint(3);
            d.varuint(3);
            d.coins();
            d.coins();
        } else if (d.flag()) {
            bouncePhase = 'no-funds';
            d.varuint(3);
            d.varuint(3);
            d.coins();
        } else {
            bouncePhase = 'negative-funds';
        }
    }
    const destroyed = d.flag();
    return {
        transactionBoc: null,
        hash: null,
        lt: lt.toString(),
        now,
        aborted,
        destroyed,
        computeSkipped,
        exitCode,
        gasUsed: gasUsed.toString(),
        vmSteps,
        computeSuccess,
        actionSuccess,
        actionResultCode,
        totalActions,
        totalFees: totalFees.toString(),
        storageFees: storageFees.toString(),
        computeFees: computeFees.toString(),
        actionFees: actionFees.toString(),
        fwdFees: fwdFees.toString(),
        bounced: bouncePhase !== null,
        bouncePhase,
        origStatus,
        endStatus,
        balance: fastBalance(shardAccountB64).toString(),
        inMessage,
        outMessages,
    };
}

// -- the embedded chain's state (chain* ops) -------------------------------------------------
//
// chains: id (allocated by Python) -> { accounts: Map(raw address -> ShardAccount BOC, base64),
// lt }. A BOC string is immutable, so forking a chain copies the map, not the accounts. The
// chain's lt lives here so that Python can send a batch before the previous one is back.
const chains = new Map();
const LT_STEP = 1000000n;

function chainStateOf(req) {
    const state = chains.get(req.chain);
    if (state === undefined) {
        throw new Error(`unknown chain ${req.chain} (the Node helper restarted since it was made?)`);
    }
    return state;
}
const chainOf = (req) => chainStateOf(req).accounts;

// Plain accounts (EmulatedChain.use_plain_wallets, for scale runs only): wallets whose code
// never runs. A message to one credits its value to the balance without a transaction; a
// chain message may carry `debit` [address, value] for an operation's first message, sent
// straight from the wallet's address (no wallet transaction), like @ton/sandbox's
// `sendMessage(internal(...))`. state.plain: address -> balance (bigint, the truth);
// state.stale: the plain accounts whose ShardAccount BOC does not show it yet.
function plainAdjust(state, raw, delta) {
    state.plain.set(raw, state.plain.get(raw) + delta);
    state.stale.add(raw);
}

// The account's ShardAccount BOC, with a plain account's balance written in first.
function accountOf(state, raw) {
    const sa = state.accounts.get(raw);
    if (sa === undefined || !state.stale.has(raw)) return sa;
    state.stale.delete(raw);
    const parsed = loadShardAccount(cellOf(sa).beginParse());
    parsed.account.storage.balance.coins = state.plain.get(raw);
    const fresh = shardAccountB64(parsed);
    state.accounts.set(raw, fresh);
    return fresh;
}

function freshen(state) {
    for (const raw of [...state.stale]) accountOf(state, raw);
}

function dropChains(req) {
    for (const id of req.drop ?? []) chains.delete(id);
}

function emptyShardAccount(raw) {
    return shardAccountB64(sandbox.createEmptyShardAccount(Address.parse(raw)));
}

// A sample of (account before, message, lt, now) of the transactions the chain ran, replayed
// through @ton/sandbox's public Executor.runTransaction by `chainRawReplay`: the raw
// executor's throughput on the very transactions of the run.
const RAW_SAMPLE_MAX = 2000;
let rawSample = [];
let rawSampleEvery = 0;
let rawSampleSeen = 0;
const rawTotals = { transactions: 0, ms: 0, cpuMs: 0, defaultms: 0, defaultcpuMs: 0, failed: 0 };
// Time spent inside the emulator and in the whole chainRunTraces handler (ms), for the bench.
// CPU time (ms, process.cpuUsage) too: on a shared machine wall time mostly measures the load.
const chainTimers = { emulateMs: 0, handlerMs: 0, handlerCpuMs: 0, transactions: 0 };
const cpuMs = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
};

// Executor.invoke copies each string argument into the wasm heap with a per-character JS
// loop (twice: length, then copy) and sorts its buffer pool on every call; the arguments here
// are ASCII (base64, JSON), so one native latin1 write into buffers kept between calls does.
const argBuffers = [{ ptr: 0, size: 0 }, { ptr: 0, size: 0 }, { ptr: 0, size: 0 }];
function emulatorArgs(ex, strings) {
    const memory = memoryOfExport.get(ex.module._malloc);
    if (memory === undefined) return null;
    for (let i = 0; i < strings.length; i++) {
        const b = argBuffers[i];
        if (b.size < strings[i].length + 1) {
            if (b.ptr) ex.module._free(b.ptr);
            b.size = 2 * (strings[i].length + 1);
            b.ptr = ex.module._malloc(b.size);
        }
    }
    // after every malloc: growing the memory detaches older views of it
    const heap = Buffer.from(memory.buffer);
    for (let i = 0; i < strings.length; i++) {
        const at = argBuffers[i].ptr;
        heap[at + heap.write(strings[i], at, 'latin1')] = 0;
    }
    return argBuffers.map((b) => b.ptr);
}

function emulate(ex, ptr, sa, messageB64, lt, now, seedHex, debug) {
    const params = `{"utime":${now},"lt":"${lt}","rand_seed":"${seedHex}","ignore_chksig":false,"debug_enabled":${debug ? 'true' : 'false'}}`;
    const t0 = performance.now();
    const args = emulatorArgs(ex, [sa, messageB64, params]);
    const out = args === null
        ? ex.invoke('_emulate_with_emulator', [ptr, 0, sa, messageB64, params])
        : ex.module._emulate_with_emulator(ptr, 0, ...args);
    const resp = JSON.parse(ex.extractString(out));
    chainTimers.emulateMs += performance.now() - t0;
    if (resp.fail) {
        throw new Error(`emulation failed: ${resp.message ?? JSON.stringify(resp)}`);
    }
    return resp.output;
}

// Runs each message's whole trace in turn (FIFO queue, children in creation order, lt + 1e6
// before every transaction: @ton/sandbox's Blockchain rules). Stops at a rejected external
// message (reported in its trace, lt not consumed) or a trace over maxTransactions.
async function chainRunTraces(req) {
    const began = performance.now();
    const beganCpu = cpuMs();
    const state = chainStateOf(req);
    const accounts = state.accounts;
    const ex = await getExecutor();
    const verbosity = verbosityOf(req);
    const debug = req.debug ?? false;
    const detail = req.detail ?? 'full';
    // summary: the accounts whose transactions come back with their messages' bodies
    const bodiesOf = new Set(req.bodiesOf ?? []);
    const config = state.trimmed ? getterConfig() : configB64;
    const ptr = ex.getEmulatorPointer(config, VERBOSITY_NUM[verbosity]);
    const seedHex = seedOf(req).toString('hex');
    const maxTx = req.maxTransactions ?? 10000;
    const now = req.now;
    let lt = state.lt;
    const traces = [];
    const logs = [];
    let stopped = false;
    const credited = new Set();
    for (const first of req.messages) {
        if (first.debit) credited.add(first.debit[0]);
        if (stopped) break;
        if (first.debit) plainAdjust(state, first.debit[0], -BigInt(first.debit[1]));
        const queue = [[first.dest, first.boc]];
        const txs = [];
        const trace = { transactions: txs, rejected: null, overflow: false };
        traces.push(trace);
        for (let qi = 0; qi < queue.length; qi++) {
            if (txs.length >= maxTx) {
                trace.overflow = true;
                stopped = true;
                break;
            }
            const [dest, messageB64, value] = queue[qi];
            if (value !== undefined && state.plain.has(dest)) {
                plainAdjust(state, dest, BigInt(value));
                credited.add(dest);
                continue;
            }
            lt += LT_STEP;
            const before = accountOf(state, dest) ?? emptyShardAccount(dest);
            if (rawSampleEvery > 0 && rawSampleSeen++ % rawSampleEvery === 0 && rawSample.length < RAW_SAMPLE_MAX) {
                rawSample.push({ shardAccount: before, message: messageB64, lt, now, config });
            }
            const o = emulate(ex, ptr, before, messageB64, lt, now, seedHex, debug);
            const split = splitVmLog(o.vm_log ?? '');
            if (!o.success) {
                lt -= LT_STEP;
                trace.rejected = {
                    address: dest,
                    error: o.error,
                    vmExitCode: 'vm_exit_code' in o ? o.vm_exit_code : null,
                    vmLog: split.vmLog,
                };
                stopped = true;
                break;
            }
            accounts.set(dest, o.shard_account);
            state.lt = lt;
            const deliver = [];
            const tx = detail === 'summary'
                ? leanTransaction(o.transaction, o.shard_account, deliver, bodiesOf.has(dest))
                : transactionSummary(o.transaction, o.shard_account, detail, deliver);
            tx.address = dest;
            tx.vmLog = verbosity !== 'short' ? split.vmLog : null;
            tx.debugLogs = debug ? split.debugLog : null;
            if (tx.vmLog) logs.push(tx.vmLog);
            txs.push(tx);
            for (const d of deliver) queue.push(d);
        }
        chainTimers.transactions += txs.length;
    }
    chainTimers.handlerMs += performance.now() - began;
    chainTimers.handlerCpuMs += cpuMs() - beganCpu;
    // One joined log for wrappers that read a result's vmLog (tvm_coverage's RecordingBridge).
    const plainBalances = {};
    for (const raw of credited) plainBalances[raw] = state.plain.get(raw).toString();
    return { lt: lt.toString(), traces, vmLog: logs.length ? logs.join('\n') : null, plainBalances };
}

Object.assign(handlers, {
    chainNew: async (req) => {
        dropChains(req);
        // config 'trimmed': the get-methods' config (no validator sets, no suspended list),
        // ~30% faster per transaction; the canary test shows identical transactions.
        chains.set(req.chain, {
            accounts: new Map(), lt: 0n, trimmed: req.config === 'trimmed', plain: new Map(), stale: new Set(),
        });
        return {};
    },
    chainFork: async (req) => {
        dropChains(req);
        const from = chainStateOf(req);
        freshen(from);
        chains.set(req.into, {
            accounts: new Map(from.accounts), lt: from.lt, trimmed: from.trimmed,
            plain: new Map(from.plain), stale: new Set(),
        });
        return {};
    },
    chainDrop: async (req) => {
        dropChains(req);
        return { chains: chains.size };
    },
    // [{address, codeBoc, dataBoc, balance, lastPaid}] -> their ShardAccounts replace any state.
    chainSetAccounts: async (req) => {
        dropChains(req);
        const state = chainStateOf(req);
        for (const a of req.accounts) {
            state.accounts.set(a.address, createAccount(a).shardAccount);
            if (state.plain.has(a.address)) state.plain.set(a.address, BigInt(a.balance));
            state.stale.delete(a.address);
        }
        return {};
    },
    chainDeleteAccount: async (req) => {
        const state = chainStateOf(req);
        state.plain.delete(req.address);
        state.stale.delete(req.address);
        return { existed: state.accounts.delete(req.address) };
    },
    chainGetAccount: async (req) => {
        const sa = accountOf(chainStateOf(req), req.address);
        if (sa === undefined) return null;
        const info = accountInfo(sa);
        return req.withShardAccount ? { ...info, shardAccount: sa } : info;
    },
    chainRunTraces,
    // Make accounts plain (see plainAdjust) or, with plain false, wallets again.
    chainSetPlain: async (req) => {
        const state = chainStateOf(req);
        for (const raw of req.addresses) {
            if (req.plain) {
                const sa = accountOf(state, raw);
                if (sa === undefined) throw new Error(`no account ${raw} to make plain`);
                state.plain.set(raw, fastBalance(sa));
            } else {
                accountOf(state, raw);
                state.plain.delete(raw);
            }
        }
        return { plain: state.plain.size };
    },
    chainRunGetMethod: async (req) => {
        const sa = accountOf(chainStateOf(req), req.address);
        if (sa === undefined) throw new Error('account is not active');
        return runGetMethod({ ...req, shardAccount: sa });
    },
    chainStats: async (req) => {
        const out = {
            chains: chains.size,
            accounts: req.chain !== undefined ? chainOf(req).size : null,
            rssBytes: process.memoryUsage().rss,
            cpuMs: cpuMs(),
            ...chainTimers,
        };
        if (req.reset) {
            chainTimers.emulateMs = 0;
            chainTimers.handlerMs = 0;
            chainTimers.handlerCpuMs = 0;
            chainTimers.transactions = 0;
        }
        return out;
    },
    // Start (every > 0) or stop (0) sampling every `every`-th transaction for chainRawReplay.
    chainRawSample: async (req) => {
        rawSampleEvery = req.every ?? 0;
        rawSampleSeen = 0;
        rawSample = [];
        rawTotals.transactions = 0;
        rawTotals.ms = 0;
        rawTotals.cpuMs = 0;
        rawTotals.defaultms = 0;
        rawTotals.defaultcpuMs = 0;
        rawTotals.failed = 0;
        return {};
    },
    // The transactions sampled since the last call through the public
    // Executor.runTransaction (what @ton/sandbox's Blockchain calls), timed: the raw
    // executor's throughput on this run's transactions. Called between batches, so both
    // figures see the same machine load. Returns the totals since chainRawSample.
    chainRawReplay: async (req) => {
        const ex = await getExecutor();
        const sample = rawSample;
        rawSample = [];
        const seed = seedOf(req);
        const prepared = sample.map((x) => ({ ...x, cell: cellOf(x.message) }));
        // Once with the chain's own config, once with sandbox's default (Blockchain's).
        for (const [key, own] of [['', true], ['default', false]]) {
            const began = performance.now();
            const beganCpu = cpuMs();
            let failed = 0;
            for (const x of prepared) {
                const r = await ex.runTransaction({
                    config: own ? x.config : sandbox.defaultConfig,
                    libs: null,
                    verbosity: 'short',
                    shardAccount: x.shardAccount,
                    message: x.cell,
                    now: x.now,
                    lt: x.lt,
                    randomSeed: seed,
                    ignoreChksig: false,
                    debugEnabled: false,
                });
                if (!r.result.success) failed += 1;
            }
            rawTotals[`${key}ms`] = (rawTotals[`${key}ms`] ?? 0) + performance.now() - began;
            rawTotals[`${key}cpuMs`] = (rawTotals[`${key}cpuMs`] ?? 0) + cpuMs() - beganCpu;
            rawTotals.failed += failed;
        }
        rawTotals.transactions += prepared.length;
        return { ...rawTotals };
    },
    // The canary: the same message through @ton/sandbox's own Blockchain, started from this
    // chain's accounts, time and lt; its transactions summarized as chainRunTraces does.
    chainSandboxRun: async (req) => {
        freshen(chainStateOf(req));
        const accounts = chainOf(req);
        const bc = await sandbox.Blockchain.create({ config: configB64 === sandbox.defaultConfig ? 'default' : configB64 });
        for (const [raw, sa] of accounts) {
            await bc.setShardAccount(Address.parse(raw), loadShardAccount(cellOf(sa).beginParse()));
        }
        bc.now = req.now;
        bc.currentLt = chainStateOf(req).lt;
        bc.randomSeed = seedOf(req);
        const result = await bc.sendMessage(cellOf(req.message));
        const txs = [];
        const balances = {};
        for (const t of result.transactions) {
            const address = `0:${t.address.toString(16).padStart(64, '0')}`;
            const sa = shardAccountB64((await bc.getContract(Address.parse(address))).account);
            // Blockchain keeps no per-transaction account states: `balance` here is the
            // account's balance at the end of the trace (also in `balances`).
            const tx = transactionSummary(b64(t.raw), sa, 'full');
            tx.address = address;
            delete tx.shardAccount;
            balances[address] = tx.balance;
            txs.push(tx);
        }
        return { transactions: txs, balances, lt: bc.currentLt.toString() };
    },
});

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

// TVM coverage (cocoon_pool.tvm_coverage): every instruction of a code cell tree, with its
// cell hash and bit offset as the VM log reports them, from ton-assembly (the disassembler
// @ton/sandbox pins). Decompiling, printing and re-assembling keeps each instruction's
// position; `recompiledHash` equal to `codeHash` proves the positions are the real ones.
// Dictionary leaves (method tables) run at an offset inside the leaf cell: `dictionaryCells`.
handlers.disassemble = async (req) => {
    const tasm = require('ton-assembly');
    const code = cellOf(req.codeBoc);
    const asm = tasm.text.print(tasm.runtime.decompileCell(code));
    const parsed = tasm.text.parse('code.tasm', asm);
    if (parsed.$ === 'ParseFailure') throw new Error('cannot re-parse the disassembly');
    const [recompiled, mapping] = tasm.runtime.compileCellWithMapping(parsed.instructions);
    const info = tasm.trace.createMappingInfo(mapping);
    const cells = {};
    for (const [hash, rep] of Object.entries(info.cells)) {
        cells[hash] = (rep?.instructions ?? []).map((i) => [i.offset, i.name, i.loc ? i.loc.line : -1]);
    }
    return {
        codeHash: code.hash().toString('hex'),
        recompiledHash: recompiled.hash().toString('hex'),
        asm,
        cells,
        dictionaryCells: info.dictionaryCells.map((d) => [d.cell, d.offset, d.dataCell]),
    };
};
