#!/usr/bin/env python3
"""Checks on the spoken-style drafts in drafts/nlu-spoken/ (issue 10). No training, no Rasa.

    python3 drafts/nlu-spoken/check_overlap.py            # from the repository root
    python3 drafts/nlu-spoken/check_overlap.py --near 0.7 # report near-copies down to 0.7

Verifies that
  - every YAML file of this folder parses and has the expected shape
    (Rasa 3.1 NLU for train_*.yml; `version: 1` + `items:` for eval_spoken.yml / e2e_60.yml);
  - no eval_spoken.yml / e2e_60.yml text equals, once normalised, any training example in
    the project's NLU training data (data/nlu/ or data/rasa/nlu/), in train_*.yml here, or any
    sentence of the held-out set (bench/eval/heldout.yml or data/eval/heldout.yml), and that
    eval_spoken.yml and e2e_60.yml do not share a sentence;
  - no train_*.yml example is a held-out sentence, and no draft example duplicates another
    draft example or contradicts (same text, other intent) the existing training data;
  - annotations are well-formed, plan annotations are aliases from plans_lexicon.yml, and
    eval labels are known intents / clarify / handoff;
and prints counts per intent, near-copies (character-bigram similarity, a warning only) and
the minimum counts asked for in the brief. Exit status 1 on any error.

Normalisation is the one bench/nlu_eval.py uses: annotations dropped, NFKC, traditional ->
simplified, lower case, whitespace and punctuation removed. OpenCC is used for the
traditional -> simplified step when importable; otherwise a built-in table of common
characters is used. Texts that normalise to nothing (emoji) are compared as written, minus
whitespace. Needs PyYAML.
"""

from __future__ import annotations

import argparse
import re
import sys
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path

try:
    import yaml
except ImportError:  # pragma: no cover
    sys.exit("PyYAML is needed: run this with a python3 that has `import yaml` working")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent  # drafts/nlu-spoken -> repository root

TRAINING_DIRS = [ROOT / "data" / "nlu"]
HELDOUT_FILES = [ROOT / "bench" / "eval" / "heldout.yml"]
DRAFT_TRAINING = sorted(HERE.glob("train_*.yml"))
EVAL_FILES = [ROOT / "bench" / "eval" / "spoken.yml", ROOT / "bench" / "eval" / "e2e_60.yml"]

EXISTING_INTENTS = {
    "greet",
    "goodbye",
    "thank",
    "affirm",
    "deny",
    "inform",
    "help",
    "check_balance",
    "check_bill",
    "check_usage",
    "top_up",
    "check_plan",
    "list_plans",
    "recommend_plan",
    "change_plan",
    "request_human",
    "report_fault",
    "bind_phone",
    "unbind_phone",
    "out_of_scope",
}
CORE_REQUEST_INTENTS = {
    "check_balance",
    "check_bill",
    "check_usage",
    "top_up",
    "check_plan",
    "list_plans",
    "recommend_plan",
    "change_plan",
    "request_human",
    "report_fault",
    "bind_phone",
    "unbind_phone",
}
NEW_INTENTS = {
    "dispute_charge",
    "list_services",
    "cancel_service",
    "check_points",
    "request_invoice",
    "report_broadband_fault",
    "ask_relative",
    "real_name_suspension",
    "low_balance_help",
    "complaint",
    "ticket_status",
    "voice_reply_on",
    "voice_reply_off",
    "elder_self_described",
    "emoji_only",
}
HANDLINGS = {"clarify", "handoff"}
KNOWN_LABELS = EXISTING_INTENTS | NEW_INTENTS | HANDLINGS
KNOWN_ENTITIES = {"amount", "number", "phone", "sms_code", "plan", "service", "relative"}
KNOWN_TAGS = {
    "greeting",
    "dispute",
    "off_menu",
    "two_requests",
    "elderly",
    "voice",
    "traditional",
    "typo",
    "relative",
    "dialect",
    "emoji",
}

# [text](entity), [text]{"entity": ...}, [text][{...}] -> text   (as in bench/nlu_eval.py)
ANNOTATION = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\}|\[[^\]]*\])")
SIMPLE_ANNOTATION = re.compile(r"\[([^\]]+)\]\(([^)]*)\)")
IGNORED = re.compile(r"[\s\W_]+", re.UNICODE)

# Fallback traditional -> simplified table (common characters; OpenCC is used when present).
_T = (
    "這個們麼嗎話費餘額還剩幾帳單號碼機請問題過來說裡對時間會點開關無線網寬帶斷連為與東車長門見電視"
    "應該發頭買賣錢從當樣給實認證業務彩鈴語音聽讀寫歡謝幫轉換辦據積兌後讓裝壞線燈亮貓擊臺灣"
    "麼麽啟動態響頁鐘鍾備註計則標簽係數據庫檔處裡訊號碼撥訂閱權紀錄級優惠廣喚嗎閒歲體驗憑證"
    "將員務傳輸錯誤讓處設定總結區別寶貝讚產廠復雜雙遊戲戶銷補卡漫遊靚營廳約並隻紙團圓夢愛慣"
    "養舊舉鬆輕鬧倆們兒媽爺奶孫婦妝嬸嫗聯繫係繼續類種顯示盡給經濟鐵鋼銀鏡陽陰險隨難雞離電雲"
    "靜順預領頻顏風飛飯飽餐館馬駕驗髮鬥魚鳥麥黃點齊齒龍兩亂乾亞產們傘備價儲億優兩農凍劃劉則"
    "劇務勞勝勢勵區協卻厲參叢吳啟問喪單嗎嘗噸團圍國圖場塊塵墊壓壞壯壺夠夢奪奮奧婦媽嫵學寧寫"
    "寬寶實審專尋對導層屬崗嶺幣幫廣庫廢廳張強彈徑從復徵忙態慘慣慮憂憑懷戰戲戶拋挾捨掃掛採換"
    "擇擔擊據擠擴擺攝敗敵數斃斷時晉書會條東來楊極榮構槍樂標樣樹橋機橫檢櫃歐歲歷歸殘殺氣漢潔"
    "澤濟濤灣災為烏無煙熱爭爺牆狀獨獲現環產畫當療發盜盡監盤眾睏礎確禮禪種稅穩窮竊筆範築簡糧"
    "緊總線練組細終結給統絕綠網緩編績繩繪續罰羅義習聖聞聯聲聽職膽腦膚臉艱莊華萬葉著蓋蘇蘋處"
    "號蟲蠻術衛衝補裝製複襯規視覽覺觀觸計訊訓託記訪設許診詞試話該詳認誠誤說誰課調請諸謂講謝"
    "證識譜議護讀變讓貝負貢財責貧貨販貪貫貴貸費貼貿賀資賊賓賞賠賬賭賴賺購賽贈趕趙跡踐蹤車軍"
    "軟載輕較輛輪輸轉辦農這連週進遊運過達違遞遠適遲選遺還邊郵鄉醫釋針釣鈔鋪錄錯鍋鍵鐘鑰長門"
    "閃閉開閑間閱闆隊陸陳際險隱雖雜雞離難雲電靈韓頁頂項順須預頓領頭頻題額顧風飄飲餓餘館養駛"
    "騙驚體鬧魯鮮鳴鴨麗齡內幹煩紹綁繳訴詢薦揀"
)
_S = (
    "这个们么吗话费余额还剩几帐单号码机请问题过来说里对时间会点开关无线网宽带断连为与东车长门见电视"
    "应该发头买卖钱从当样给实认证业务彩铃语音听读写欢谢帮转换办据积兑后让装坏线灯亮猫击台湾"
    "么么启动态响页钟钟备注计则标签系数据库档处里讯号码拨订阅权纪录级优惠广唤吗闲岁体验凭证"
    "将员务传输错误让处设定总结区别宝贝赞产厂复杂双游戏户销补卡漫游靓营厅约并只纸团圆梦爱惯"
    "养旧举松轻闹俩们儿妈爷奶孙妇妆婶妪联系系继续类种显示尽给经济铁钢银镜阳阴险随难鸡离电云"
    "静顺预领频颜风飞饭饱餐馆马驾验发斗鱼鸟麦黄点齐齿龙两乱干亚产们伞备价储亿优两农冻划刘则"
    "剧务劳胜势励区协却厉参丛吴启问丧单吗尝吨团围国图场块尘垫压坏壮壶够梦夺奋奥妇妈妩学宁写"
    "宽宝实审专寻对导层属岗岭币帮广库废厅张强弹径从复征忙态惨惯虑忧凭怀战戏户抛挟舍扫挂采换"
    "择担击据挤扩摆摄败敌数毙断时晋书会条东来杨极荣构枪乐标样树桥机横检柜欧岁历归残杀气汉洁"
    "泽济涛湾灾为乌无烟热争爷墙状独获现环产画当疗发盗尽监盘众困础确礼禅种税稳穷窃笔范筑简粮"
    "紧总线练组细终结给统绝绿网缓编绩绳绘续罚罗义习圣闻联声听职胆脑肤脸艰庄华万叶着盖苏苹处"
    "号虫蛮术卫冲补装制复衬规视览觉观触计讯训托记访设许诊词试话该详认诚误说谁课调请诸谓讲谢"
    "证识谱议护读变让贝负贡财责贫货贩贪贯贵贷费贴贸贺资贼宾赏赔账赌赖赚购赛赠赶赵迹践踪车军"
    "软载轻较辆轮输转办农这连周进游运过达违递远适迟选遗还边邮乡医释针钓钞铺录错锅键钟钥长门"
    "闪闭开闲间阅板队陆陈际险隐虽杂鸡离难云电灵韩页顶项顺须预顿领头频题额顾风飘饮饿余馆养驶"
    "骗惊体闹鲁鲜鸣鸭丽龄内干烦绍绑缴诉询荐拣"
)
assert len(_T) == len(_S), (len(_T), len(_S))
_FALLBACK_T2S = str.maketrans(_T, _S)

try:  # the same converter the project uses, when it is installed
    from opencc import OpenCC

    _OPENCC = OpenCC("t2s")
except Exception:
    _OPENCC = None


def to_simplified(text: str) -> str:
    return _OPENCC.convert(text) if _OPENCC else text.translate(_FALLBACK_T2S)


def strip_annotations(text: str) -> str:
    return ANNOTATION.sub(r"\1", text)


# A message made only of WeChat emoji codes (/::D, /:rose, [微笑]) and symbols: compared as
# written, because punctuation removal would turn /::D and /:,@-D into the same "d".
EMOJI_ONLY = re.compile(r"(?:\s*(?:/:[^\s/]+|\[[^\]\s]{1,8}\]|[^\w\s]+))+\s*")


def normalise(text: str) -> str:
    """Comparison form: 「查詢 話費！」 and 「查询话费」 are the same; emoji keep their raw form."""
    plain = unicodedata.normalize("NFKC", strip_annotations(text)).strip()
    form = IGNORED.sub("", to_simplified(plain).lower())
    if not form or EMOJI_ONLY.fullmatch(plain):
        return "raw:" + re.sub(r"\s+", "", plain)
    return form


class Report:
    def __init__(self) -> None:
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def error(self, message: str) -> None:
        self.errors.append(message)

    def warn(self, message: str) -> None:
        self.warnings.append(message)


def rel(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def block_items(block: str, where: str, report: Report) -> list[str]:
    items = []
    for line in (block or "").splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("- ") and stripped[2:].strip():
            items.append(stripped[2:].strip())
        else:
            report.error(f"{where}: not an example line: {line!r}")
    return items


def load_rasa_nlu(path: Path, report: Report, strict: bool) -> dict:
    """intent examples [(intent, raw text)], lookups, synonyms of one Rasa NLU file."""
    parsed: dict = {"examples": [], "lookups": defaultdict(list), "synonyms": defaultdict(list)}
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        report.error(f"{rel(path)}: YAML does not parse: {exc}")
        return parsed
    if strict and str(document.get("version")) != "3.1":
        report.error(f'{rel(path)}: version should be "3.1"')
    for entry in document.get("nlu") or []:
        where = f"{rel(path)} ({entry.get('intent') or entry.get('lookup') or entry.get('synonym')})"
        if strict and not isinstance(entry.get("examples"), str):
            report.error(f"{where}: `examples` must be a block string")
            continue
        examples = block_items(entry.get("examples") or "", where, report)
        if "intent" in entry:
            parsed["examples"].extend((entry["intent"], raw) for raw in examples)
        elif "lookup" in entry:
            parsed["lookups"][entry["lookup"]].extend(examples)
        elif "synonym" in entry:
            parsed["synonyms"][str(entry["synonym"])].extend(examples)
    return parsed


def load_items(path: Path, report: Report, needs_serves: bool) -> list[dict]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        report.error(f"{rel(path)}: cannot be read / parsed: {exc}")
        return []
    if not isinstance(document, dict) or document.get("version") != 1 or not isinstance(document.get("items"), list):
        report.error(f"{rel(path)}: expected `version: 1` and a list `items`")
        return []
    items = []
    allowed = {"text", "expect", "accept", "second", "tags", "serves"}
    for number, item in enumerate(document["items"], 1):
        where = f"{rel(path)} item {number}"
        if not isinstance(item, dict):
            report.error(f"{where}: not a mapping")
            continue
        text = item.get("text")
        if not isinstance(text, str) or not text.strip():
            report.error(f"{where}: `text` must be a non-empty string (quote it: {text!r})")
            continue
        where = f"{where} ({text})"
        unknown = set(item) - allowed
        if unknown:
            report.error(f"{where}: unknown keys {sorted(unknown)}")
        if item.get("expect") not in KNOWN_LABELS:
            report.error(f"{where}: unknown expect {item.get('expect')!r}")
        accept = item.get("accept", [])
        if not isinstance(accept, list) or any(a not in KNOWN_LABELS for a in accept):
            report.error(f"{where}: bad accept {accept!r}")
        elif item.get("expect") in accept:
            report.error(f"{where}: accept repeats expect")
        if "second" in item and item["second"] not in KNOWN_LABELS - HANDLINGS:
            report.error(f"{where}: unknown second {item['second']!r}")
        tags = item.get("tags", [])
        if not isinstance(tags, list) or any(t not in KNOWN_TAGS for t in tags):
            report.error(f"{where}: bad tags {tags!r}")
        if needs_serves and not (isinstance(item.get("serves"), str) and item["serves"].strip()):
            report.error(f"{where}: `serves` missing")
        items.append(item)
    return items


def bigrams(form: str) -> set[str]:
    return {form[i : i + 2] for i in range(len(form) - 1)} or {form}


def near_copies(queries, pool, threshold):
    """(query, pool entry, similarity) with Jaccard similarity of character bigrams >= threshold."""
    index: dict[str, list[int]] = defaultdict(list)
    pool_grams = []
    for number, (_, _, form) in enumerate(pool):
        grams = bigrams(form)
        pool_grams.append(grams)
        for gram in grams:
            index[gram].append(number)
    found = []
    for query in queries:
        form = query[2]
        if form.startswith("raw:") or len(form) < 4:
            continue
        grams = bigrams(form)
        shared = Counter(n for gram in grams for n in index.get(gram, ()))
        best = None
        for number, common in shared.items():
            if pool[number][2] == form:
                continue  # exact overlaps are reported as errors elsewhere
            similarity = common / len(grams | pool_grams[number])
            if similarity >= threshold and (best is None or similarity > best[1]):
                best = (number, similarity)
        if best:
            found.append((query, pool[best[0]], best[1]))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--near",
        type=float,
        default=0.75,
        help="report eval/training pairs at least this similar (bigram Jaccard; warning only)",
    )
    args = parser.parse_args()
    report = Report()

    # --- the project's data, wherever the current layout keeps it ---------------------------
    training_dirs = [d for d in TRAINING_DIRS if d.is_dir() and list(d.glob("*.yml"))]
    heldout_files = [f for f in HELDOUT_FILES if f.is_file()]
    if not training_dirs:
        report.error("no project NLU training data found (looked in data/nlu and data/rasa/nlu)")
    if not heldout_files:
        report.error("no held-out set found (looked at bench/eval/heldout.yml and data/eval/heldout.yml)")
    print("project training data:", ", ".join(rel(d) for d in training_dirs) or "-")
    print("held-out set:         ", ", ".join(rel(f) for f in heldout_files) or "-")
    if _OPENCC is None:
        print("(OpenCC not importable: using the built-in traditional->simplified table)")

    existing = []  # (source, intent, form)
    plan_aliases: set[str] = set()
    for directory in training_dirs:
        for path in sorted(directory.glob("*.yml")):
            parsed = load_rasa_nlu(path, report, strict=False)
            existing.extend((rel(path), intent, normalise(raw)) for intent, raw in parsed["examples"])
            for aliases in parsed["synonyms"].values():
                plan_aliases.update(a.lower() for a in aliases)
            plan_aliases.update(a.lower() for a in parsed["lookups"].get("plan", []))
    heldout = []
    for path in heldout_files:
        parsed = load_rasa_nlu(path, report, strict=False)
        heldout.extend((rel(path), intent, normalise(raw)) for intent, raw in parsed["examples"])

    # --- the training drafts -------------------------------------------------------------------
    drafts = []  # (source, intent, form)
    draft_counts: dict[str, Counter] = {}
    for path in DRAFT_TRAINING:
        parsed = load_rasa_nlu(path, report, strict=True)
        draft_counts[path.name] = Counter(intent for intent, _ in parsed["examples"])
        for intent, raw in parsed["examples"]:
            where = f"{path.name} ({intent}): {raw}"
            if intent not in EXISTING_INTENTS | NEW_INTENTS:
                report.error(f"{where}: unknown intent")
            if re.search(r"\]\[", raw):
                report.error(f"{where}: 「][」 would be read as an entity annotation; add a space")
            for text, entity in SIMPLE_ANNOTATION.findall(raw):
                if entity not in KNOWN_ENTITIES:
                    report.error(f"{where}: unknown entity {entity!r}")
                if " " in text or normalise(text) != text.lower():
                    report.error(f"{where}: annotate plain simplified text without spaces only")
                if entity == "plan" and plan_aliases and text.lower() not in plan_aliases:
                    report.error(f"{where}: {text!r} is not a plan alias in plans_lexicon.yml")
            if "](" in strip_annotations(raw) or "{" in raw:
                report.error(f"{where}: malformed annotation")
            drafts.append((path.name, intent, normalise(raw)))

    held_by_form = {form: (src, intent) for src, intent, form in heldout}
    existing_by_form: dict[str, set] = defaultdict(set)
    for _src, intent, form in existing:
        existing_by_form[form].add(intent)
    seen: dict[str, tuple[str, str]] = {}
    for src, intent, form in drafts:
        if form in held_by_form:
            report.error(f"{src} ({intent}) trains on a held-out sentence: {form}")
        if form in seen:
            report.error(f"{src} ({intent}) duplicates {seen[form][0]} ({seen[form][1]}): {form}")
        seen.setdefault(form, (src, intent))
        clash = existing_by_form.get(form, set()) - {intent}
        if clash:
            report.error(f"{src} ({intent}) is labelled {sorted(clash)} in the project data: {form}")
        elif form in existing_by_form:
            report.warn(f"{src} ({intent}) already in the project data: {form}")

    # --- the evaluation files --------------------------------------------------------------------
    forbidden = {}
    for src, intent, form in existing + drafts + heldout:
        forbidden.setdefault(form, f"{src} ({intent})")
    eval_items: dict[str, list[dict]] = {}
    eval_forms: dict[str, list[tuple]] = {}
    for path in EVAL_FILES:
        if not path.is_file():
            report.error(f"{rel(path)} is missing")
            continue
        items = load_items(path, report, needs_serves=path.name == "e2e_60.yml")
        eval_items[path.name] = items
        forms = []
        local: dict[str, str] = {}
        for item in items:
            form = normalise(item["text"])
            if form in forbidden:
                report.error(f"{path.name}: {item['text']!r} is also in {forbidden[form]}")
            if form in local:
                report.error(f"{path.name}: {item['text']!r} appears twice (also {local[form]!r})")
            local[form] = item["text"]
            forms.append((path.name, item["expect"], form))
        eval_forms[path.name] = forms
    if len(eval_forms) == 2:
        a, b = eval_forms.values()
        common = {f for _, _, f in a} & {f for _, _, f in b}
        for form in sorted(common):
            report.error(f"eval_spoken.yml and e2e_60.yml share a sentence: {form}")

    near = []
    pool = existing + drafts + heldout
    for forms in eval_forms.values():
        near.extend(near_copies(forms, pool, args.near))
    if len(eval_forms) == 2:
        near.extend(near_copies(eval_forms["e2e_60.yml"], eval_forms["spoken.yml"], args.near))

    # --- counts ------------------------------------------------------------------------------------
    print()
    for name, counts in draft_counts.items():
        print(f"{name}: {sum(counts.values())} examples")
        for intent, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            print(f"  {intent:24} {count}")
    for name, items in eval_items.items():
        print(f"{name}: {len(items)} items")
        expect = Counter(item["expect"] for item in items)
        for label, count in sorted(expect.items(), key=lambda kv: (-kv[1], kv[0])):
            print(f"  {label:24} {count}")
        tags = Counter(tag for item in items for tag in item.get("tags", []))
        print("  tags: " + ", ".join(f"{t}={c}" for t, c in sorted(tags.items())))
        print(
            f"  with `second`: {sum('second' in item for item in items)}; "
            f"with `accept`: {sum('accept' in item for item in items)}"
        )

    # --- the brief's minimums ----------------------------------------------------------------------
    print("\nminimums from the brief:")
    checks = []
    core = draft_counts.get("train_core.yml", Counter())
    new = draft_counts.get("train_new_intents.yml", Counter())
    checks.append(
        (
            "train_core: >= 25 per core request intent",
            all(core[i] >= 25 for i in CORE_REQUEST_INTENTS),
            {i: core[i] for i in CORE_REQUEST_INTENTS if core[i] < 25},
        )
    )
    checks.append(
        (
            "train_core: every existing intent present",
            EXISTING_INTENTS <= set(core),
            sorted(EXISTING_INTENTS - set(core)),
        )
    )
    new_needed = NEW_INTENTS | {"out_of_scope"}
    checks.append(
        (
            "train_new_intents: >= 30 per new intent (incl. out_of_scope additions)",
            all(new[i] >= 30 for i in new_needed),
            {i: new[i] for i in new_needed if new[i] < 30},
        )
    )
    items = eval_items.get("spoken.yml", [])

    def tagged(tag):
        return sum(tag in item.get("tags", []) for item in items)

    dispute = sum(
        item["expect"] == "dispute_charge"
        or "dispute" in item.get("tags", [])
        or item.get("second") == "dispute_charge"
        for item in items
    )
    off_menu = sum(item["expect"] == "out_of_scope" or "off_menu" in item.get("tags", []) for item in items)
    two = sum("second" in item for item in items)
    elder_voice = sum(bool({"elderly", "voice"} & set(item.get("tags", []))) for item in items)
    covered = {item["expect"] for item in items}
    checks += [
        ("eval_spoken: >= 320 items", len(items) >= 320, len(items)),
        (
            "eval_spoken: every intent is expected somewhere",
            (EXISTING_INTENTS | NEW_INTENTS) <= covered,
            sorted((EXISTING_INTENTS | NEW_INTENTS) - covered),
        ),
        ("eval_spoken: >= 40 dispute-flavoured", dispute >= 40, dispute),
        ("eval_spoken: >= 30 off-menu / out_of_scope", off_menu >= 30, off_menu),
        ("eval_spoken: >= 30 with two requests", two >= 30, two),
        ("eval_spoken: >= 40 greeting-first", tagged("greeting") >= 40, tagged("greeting")),
        ("eval_spoken: >= 30 elderly / voice-transcript", elder_voice >= 30, elder_voice),
        (
            "e2e_60: exactly 60 items",
            len(eval_items.get("e2e_60.yml", [])) == 60,
            len(eval_items.get("e2e_60.yml", [])),
        ),
    ]
    for label, ok, detail in checks:
        print(f"  [{'ok' if ok else 'FAIL'}] {label}: {detail}")
        if not ok:
            report.error(f"brief minimum not met: {label} ({detail})")

    if near:
        print(f"\nnear-copies (bigram similarity >= {args.near}; review, not an error):")
        for (src, label, form), (psrc, pintent, pform), similarity in sorted(near, key=lambda n: -n[2]):
            print(f"  {similarity:.2f}  {src} [{label}] {form}  ~  {psrc} [{pintent}] {pform}")
    for message in report.warnings:
        print("warning:", message)
    for message in report.errors:
        print("ERROR:", message)
    print(f"\n{len(report.errors)} error(s), {len(report.warnings)} warning(s), {len(near)} near-copies")
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
