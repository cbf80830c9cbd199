"""What the NLU's parse of the latest message allows the dialogue to do (issue 10).

Pure functions over Rasa's parse data (`tracker.latest_message`): the likeliest meanings for a
clarifying question, whether a message is clear enough to open a transaction, and whether it
sounds like a dispute about money. No rasa-sdk imports, so the rules are easy to test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from billing.backend import Plan

# A transaction (top-up, plan change, unsubscribe) opens only on a message the classifier is
# this sure of; below it the subscriber is asked which of the likeliest meanings they want.
TRANSACTION_MIN_CONFIDENCE = 0.7
# Meanings below this confidence are not worth offering in a clarifying question.
OPTION_MIN_CONFIDENCE = 0.05
MAX_OPTIONS = 3

TRANSACTION_INTENTS = frozenset({"top_up", "change_plan", "cancel_service"})

# What a subscriber can pick in a clarifying question or be offered as a second request:
# requests the assistant serves, with the short words of the menu.
REQUEST_LABELS: dict[str, str] = {
    "check_balance": "查话费余额",
    "check_bill": "查账单",
    "check_usage": "查流量和通话",
    "top_up": "充话费",
    "check_plan": "查我的套餐",
    "list_plans": "看可办的套餐",
    "recommend_plan": "推荐套餐",
    "change_plan": "换套餐",
    "dispute_charge": "查扣费明细",
    "list_services": "查已开的业务",
    "cancel_service": "退订业务",
    "check_points": "查积分",
    "request_invoice": "开发票",
    "report_fault": "手机故障报修",
    "report_broadband_fault": "宽带报修",
    "ask_relative": "查家人的号码",
    "real_name_suspension": "实名停机怎么办",
    "low_balance_help": "余额不够怎么办",
    "complaint": "投诉",
    "ticket_status": "查工单进度",
    "bind_phone": "绑定手机号",
    "unbind_phone": "解除绑定",
}

# Words of a subscriber who contests money rather than asks to move it.
DISPUTE_CUES = re.compile(
    r"多扣|乱扣|扣了?(我)?(这么|那么|恁|好)多|怎么扣|咋扣|为什么扣|为啥扣|凭什么|莫名其妙|"
    r"(钱|费|余额).{0,6}(没了|不见了|少了|跑哪|哪去了)|(怎么|咋|为什么|为啥).{0,8}(多了|少了|扣)|"
    r"退(钱|费|回来)|说法|没(开|用|办)过|不是我(开|办)的|什么费|啥费"
)


# A subscriber saying she cannot manage (the mission's 「不会用」「看不懂」), about the assistant or
# about what is in front of her: a person at once, whatever else the message asked. Not the
# question 「会不会用完」, nor 「不会用超吧」.
CANNOT_MANAGE = re.compile(
    r"(?<!会)不[太大]?会(用|弄|搞|操作)(?![完光掉超])|(弄|搞|用|玩)不(来|懂|明白|转)|"
    r"(看|听)不[太大]?(懂|明白|清)|眼神不好|太复杂|(也|都|啥都|什么都)不[太大]?懂(这些|这个|手机|这玩意)?|"
    r"(我|俺)(也|真|实在|真的)?不[太大]?会[啊呀了哦啦嘛]*(?=$|[，。,.!?！？])"  # 「话费怎么充 我不会」
)
# A subscriber describing her own age, not a story about an old phone or an old relative.
SAYS_OLD = re.compile(
    r"(我|俺|咱)(都|已经|今年)?(年纪|岁数)(大|太大)|^(年纪|岁数)大了|老年人|年长人|老人家|"
    r"(我|俺)(都|已经|今年)?(是个?|一个)?(老头|老太|老人)|(我|俺)(都|已经|今年)?[六七八九]十(多|几)?岁?了"
)


def says_old(text: str) -> bool:
    return SAYS_OLD.search(text) is not None


OLD_AGE = re.compile(r"[六七八九]十(多|几)?岁?了|[6-9]\d岁|年纪大|岁数大|老年人|老人家")
# 「适合老人的套餐」「给长辈用」: plans meant for someone old.
FOR_THE_OLD = re.compile(r"老人|长辈")


def mentions_old_age(text: str) -> bool:
    """Someone in the message is old (herself or the relative she writes for)."""
    return says_old(text) or OLD_AGE.search(text) is not None


def meant_for_the_old(text: str) -> bool:
    return mentions_old_age(text) or FOR_THE_OLD.search(text) is not None


# Her phone or SIM is lost or stolen: urgent (whoever has it can use the line), and no one may call
# that number back (handoff/callbacks.py).
LOST_PHONE = re.compile(
    r"挂失|(手机|电话|(?<!银行)卡)[^，。,.!?！？]{0,4}(丢了|丢失|弄丢|被偷|被盗|被抢|偷了|不见了|找不到了?)|"
    r"(丢了|被偷了|被抢了|弄丢了)(我的?)?(手机|电话|(?<!银行)卡)"
)


# Already reported, found again or being restored: not a phone to suspend now.
LOST_BEFORE = re.compile(r"已经?挂失|挂失[了过的]|复机|恢复|解挂|找到了|找回来了")


def says_phone_lost(text: str) -> bool:
    return LOST_PHONE.search(text) is not None and LOST_BEFORE.search(text) is None


# 「我欠费了吗」「怎么停机了」「电话打不出去」: she asks whether the line works, not only what is left.
LINE_DOWN = re.compile(
    r"停机|停了|停掉了|打不出|打不了|打不通|拨不出|用不了|发不了|发不出|收不到|上不了网|连不上网?|没有?网(?!上|银|费|购|点)|"
    r"上不了[^，。,.!?！？]{0,3}微信|微信[^，。,.!?！？]{0,3}(上不了|用不了|打不开|刷不出)"
)
IN_ARREARS = re.compile(r"欠费|欠钱|欠了|还欠|欠多少|欠不欠|负数|负的|成负")
# 「我的号有问题」「手机卡出毛病了」: something is wrong with her line, not said what.
LINE_TROUBLED = re.compile(
    r"(号|号码|卡|手机|电话)[^，。,.!?！？]{0,3}(有|出|出了)(点)?(问题|毛病|故障)|(号|号码|卡)[^，。,.!?！？]{0,3}不正常"
)


def says_line_down(text: str) -> bool:
    return LINE_DOWN.search(text) is not None or says_line_troubled(text)


def says_line_troubled(text: str) -> bool:
    return LINE_TROUBLED.search(text) is not None


# 「我的网络怎么这么慢」: her connection, not a charge (a slow line uses data left, or a signal).
NETWORK_SLOW = re.compile(
    r"(网|网络|网速|上网|信号)[^，。,.!?！？]{0,4}(慢|卡顿|很卡|太卡|好卡|卡死|不好|差|很弱|太弱)"
)


# 「为什么我打电话总是没声音」: a fault of her calls, not a charge.
CALL_TROUBLE = re.compile(r"没声音|没有声音|听不到|听不见|听不清|杂音|断断续续|掉线|断线")


# 「我想看看我的通话记录」: the itemised calls, which the operator shows after checking who asks.
CALL_RECORDS = re.compile(r"通话记录|通话详单|详单|通话清单")


def asks_for_call_records(text: str) -> bool:
    return CALL_RECORDS.search(text) is not None


def says_calls_fail(text: str) -> bool:
    return CALL_TROUBLE.search(text) is not None and MONEY_WORDS.search(text) is None


def says_network_slow(text: str) -> bool:
    """Her phone's connection (a slow broadband line is a broadband fault)."""
    return NETWORK_SLOW.search(text) is not None and MONEY_WORDS.search(text) is None and "宽带" not in text


# 「我的宽带账号是多少」: asked for the account, with no fault in it.
BROADBAND_ACCOUNT = re.compile(r"(宽带)?(账号|帐号|户号|密码)")
BROADBAND_FAULT = re.compile(r"断|不了|不上|慢|卡|没网|故障|坏|灯|红|闪")


def asks_broadband_account(text: str) -> bool:
    return BROADBAND_ACCOUNT.search(text) is not None and BROADBAND_FAULT.search(text) is None


def asks_line_status(text: str) -> bool:
    return says_line_down(text) or IN_ARREARS.search(text) is not None


# 「我充了钱怎么还没到账」: a top-up she paid and does not see, not a charge she contests.
TOP_UP_MISSING = re.compile(
    r"充[^，。,.!?！？]{0,8}(没|未|不)有?(到账|到|显示|加上|进来)|没有?到账|不到账|"
    r"没有?(给我|帮我)?(充上|充进)|(充|交|缴)了[^。.!?！？]{0,20}(还是负|还是欠|还欠|又欠|怎么欠|又停|还停|还是停|又被停)|"
    r"(充|交|缴)了[^。.!?！？]{0,8}(怎么|咋)?还是?(打不了|打不出|用不了|不能用|不能打|上不了网)|"
    r"(充|交|缴)值?了[^。.!?！？]{0,12}(余额|话费)[^。.!?！？]{0,4}(没变|没动|没涨|没加|不变|没多|还是)|"
    r"(欠费|停机|没钱|没话费|钱没了|没余额)[^。.!?！？]{0,12}(明明|刚|才|已经)[^。.!?！？]{0,8}(交|充|缴)|"
    r"(充|交|缴)了[^。.!?！？]{0,12}(到了没|到账了没|到没到|到账没|到了吗|到账了吗|收到了吗|收到没)"
)


def says_top_up_missing(text: str) -> bool:
    return TOP_UP_MISSING.search(text) is not None


# 「为什么我的流量用得这么快」「我都没怎么用 流量就没了」: her data, not money (「流量费扣了这么多」 is).
DATA_GOES_FAST = re.compile(
    r"流量[^，。,.!?！？]{0,8}(这么快|那么快|太快|好快|咋这么|跑得|跑的|偷跑|用这么多|用那么多|用了这么多)|"
    r"(没怎么用|没用什么|没用啥)[^，。,.!?！？]{0,6}流量|流量[^，。,.!?！？]{0,10}没怎么用|偷跑流量|"
    r"流量[^，。,.!?！？]{0,6}(被偷|偷了|被盗)|流量[^，。,.!?！？]{0,8}(偷用|盗用|被别人用)|(一晚上|一个晚上|一夜|一天|一下子|半天)(就|都)?(用|跑)了[^，。,.!?！？]{0,4}(G|个G|兆|M)"
)
MONEY_WORDS = re.compile(r"钱|费|扣|元|块")


def says_data_goes_fast(text: str) -> bool:
    return DATA_GOES_FAST.search(text) is not None and MONEY_WORDS.search(text) is None


# What only a person or an office can do, and no served request mentions in passing: when the
# classifier is unsure (a menu, a clarifying question or a guess), she is told so and gets a person.
OPERATOR_ERRAND = re.compile(
    r"携号转网|携转|转网|销户|过户|靓号|选号|网龄|入网|服务密码|(改|修改|重置|找回)密码|密码(忘|不记得|错)|"
    r"(忘了|忘记)[^，。,.!?！？]{0,4}密码|PUK|PIN码|漫游|出国|国外|境外|副卡|亲情号|合约机|用了(几|多少)年|骚扰|诈骗|上门|"
    r"营业厅[^，。,.!?！？]{0,4}(地址|在哪|哪里|哪儿|几点|电话|营业时间)|号码?[^，。,.!?！？]{0,4}(好听|吉利)|"
    r"谁的身份证|身份证[^，。,.!?！？]{0,6}(是谁|谁的)|实名[^，。,.!?！？]{0,4}(是谁|谁的)|"
    r"广告短信|垃圾短信|屏蔽|拦截|通话记录|通话详单|详单|通话清单|宽带[^，。,.!?！？]{0,6}(多少钱|价格|资费|怎么收费)|"
    r"流量[^，。,.!?！？]{0,6}(限制|封顶|限额|限量)|(限制|限额)[^，。,.!?！？]{0,4}流量|"
    r"(换|改)(个|一个)?(手机)?号(码)?(?![^，。,.!?！？]{0,6}绑)|老(是)?(给我)?发短信|短信[^，。,.!?！？]{0,4}(太多|好多|烦)|"
    r"残疾|低保|优待|销号|(余额|话费)[^，。,.!?！？]{0,3}退(给|回)?我|退[^，。,.!?！？]{0,2}余额|不(用|要|想用|想要)这个号了|注销(号码|手机号)|流量共享|共享流量|转赠|(流量|话费)[^，。,.!?！？]{0,4}(分给|转给|送给|共享给)|停号|名下[^，。,.!?！？]{0,6}(几|多少|哪些)[^，。,.!?！？]{0,2}(卡|号)|一证通查",
    re.IGNORECASE,
)
UNSURE_BELOW = 0.6
GUESSING_INTENTS = frozenset({"nlu_fallback", "help", "greet"})


def unsure_of_request(parse: Mapping[str, Any]) -> bool:
    """The classifier chose no request it is sure of: a fallback, the menu's intents, or a weak guess."""
    intent = parse.get("intent") or {}
    return intent.get("name") in GUESSING_INTENTS or float(intent.get("confidence") or 0.0) < UNSURE_BELOW


def names_operator_errand(text: str) -> bool:
    return OPERATOR_ERRAND.search(text) is not None and not asks_line_status(text) and not says_phone_lost(text)


# A matter for a person however sure the classifier is: her identity used by someone else (not a
# real-name suspension), or the line of someone who died (not a relative's balance to bind).
IDENTITY_MISUSED = re.compile(r"冒名|冒用|盗用|被人用了?我的身份证")
BEREAVED = re.compile(
    r"去世|过世|(老伴|爸|妈|父亲|母亲|丈夫|妻子|老公|老婆|爷爷|奶奶|外公|外婆)(已经|都|刚|前几天|去年)?(走了|不在了)"
    r"(?![^，。,.!?！？]{0,3}(流量|话费|钱|多少|几))"  # not 「我爸手机走了多少流量」
)


# 「我的号码是不是被别人用了 老是收到验证码」: her number in someone else's hands (not 「没收到验证码」).
NUMBER_MISUSED = re.compile(
    r"(号码?|手机号|卡)[^，。,.!?！？]{0,6}被(别|其他|陌生)?人[^，。,.!?！？]{0,2}(用|盗|冒用|拿)|"
    r"(老是|总是|一直|经常|好多|很多|莫名其妙|陌生)[^，。,.!?！？没]{0,4}(收到|来|发)[^，。,.!?！？]{0,4}验证码"
)


def says_number_misused(text: str) -> bool:
    return NUMBER_MISUSED.search(text) is not None


def names_a_grave_matter(text: str) -> bool:
    return IDENTITY_MISUSED.search(text) is not None or says_bereaved(text) or says_number_misused(text)


def says_bereaved(text: str) -> bool:
    return BEREAVED.search(text) is not None


# 「我前后打了五次电话都没解决」「一直没人联系我」: asked before and not helped.
ASKED_BEFORE_UNHELPED = re.compile(
    r"(打|找|问|说|反映|联系)了?[^，。,.!?！？]{0,4}(好几|几|[二三四五六七八九十两]|[2-9])(次|遍|回)|"
    r"(都|还|一直)(没|没有)(解决|人管|人理|人联系|回复|处理)|没人(管|理|联系|回复)|今天必须"
)


def says_asked_before_unhelped(text: str) -> bool:
    return ASKED_BEFORE_UNHELPED.search(text) is not None


# 「你们客服电话打不通 一直占线」: she tried to reach a person and could not (not a fault of her line).
HOTLINE_UNREACHABLE = re.compile(
    r"(客服|热线|人工|100(86|00|10))[^，。,.!?！？]{0,6}(打不通|打不进|占线|没人接|接不通|排队|等了?(半天|好久|很久))"
)


def says_hotline_unreachable(text: str) -> bool:
    return HOTLINE_UNREACHABLE.search(text) is not None


# 「5G套餐是不是要换手机」: whether her phone can take a 5G plan, not the list of plans.
FIVE_G_PHONE = re.compile(
    r"5G[^，。,.!?！？]{0,10}(换|买|新)[^，。,.!?！？]{0,2}手机|5G[^，。,.!?！？]{0,10}(什么|哪些|啥)手机|"
    r"(4G|老|旧|我的|我这)[^，。,.!?！？]{0,3}手机[^，。,.!?！？]{0,10}5G",
    re.IGNORECASE,
)


def asks_if_phone_takes_5g(text: str) -> bool:
    return FIVE_G_PHONE.search(text) is not None


# 「流量用完了会怎么样 会不会扣很多钱」「打电话超出套餐了怎么算钱」: the price of usage beyond a plan,
# asked before it is charged. A charge already made and contested is a dispute; 「余额用完了会怎么样」
# is about the balance, not the allowance.
BEYOND_PLAN = re.compile(r"超出|超了|超过|用超|超额|套外|套餐外|用完|用光")
ALLOWANCE = re.compile(r"流量|通话|电话|分钟|套餐")
ASKS_HOW_CHARGED = re.compile(
    r"(怎么|如何|咋|怎样)(收|算|扣|计费)|收费|收多少|扣多少|多少钱|会怎么样|会不会扣|扣很多|贵不贵|扣费(规则|方式)"
)
CONTESTED = re.compile(r"为什么|为啥|凭什么|多扣|乱扣|扣了|收了|扣我")


def asks_price_beyond_plan(text: str) -> bool:
    return (
        BEYOND_PLAN.search(text) is not None
        and ALLOWANCE.search(text) is not None
        and ASKS_HOW_CHARGED.search(text) is not None
        and CONTESTED.search(text) is None
    )


# 「我每个月的话费是怎么扣的」「月租是几号扣啊」: how her line is charged, not a charge she contests.
CHARGED_FOR = re.compile(r"话费|月租|月费|每个月|每月|费用")
CHARGED_WHEN = re.compile(r"(几号|哪天|哪一天|什么时候|啥时候)[^，。,.!?！？]{0,2}(扣|收)")


# 「我每个月话费要好多钱」 (好多: 多少, in the south-west), read as her balance: what a month costs her.
MONTHLY_COST = re.compile(
    r"(每个月|每月|一个月|月租|月费)[^，。,.!?！？]{0,8}(多少钱|好多钱|要多少|要好多|交多少|交好多|扣多少|扣好多|收多少)"
)


def asks_monthly_cost(text: str) -> bool:
    return MONTHLY_COST.search(text) is not None and CONTESTED.search(text) is None


def asks_how_charges_work(text: str) -> bool:
    return (
        CHARGED_FOR.search(text) is not None
        and (ASKS_HOW_CHARGED.search(text) is not None or CHARGED_WHEN.search(text) is not None)
        and CONTESTED.search(text) is None
        and BEYOND_PLAN.search(text) is None
    )


# 「余额用完了会怎么样」「话费扣完了会不会停机」: what happens when the balance runs out.
BALANCE_RUNS_OUT = re.compile(
    r"(余额|话费|钱)[^，。,.!?！？]{0,3}(用完|用光|没了|扣完|花完|不够|为0|是0)[^，。,.!?！？]{0,4}"
    r"(会怎么样|会咋样|会不会停|会停机|停机吗|还能(打|用))"
)


def asks_what_if_balance_runs_out(text: str) -> bool:
    return BALANCE_RUNS_OUT.search(text) is not None


# 「打不出去了 是不是欠费了」: asked outright whether her line is cut off (not only that it fails).
ASKS_IF_CUT_OFF = re.compile(
    r"(是不是|是否|有没有|会不会)[^，。,.!?！？]{0,3}(欠费|停机|停了|被停)|(欠费|停机)了?(吗|没|嘛|么)"
)


def asks_if_cut_off(text: str) -> bool:
    return ASKS_IF_CUT_OFF.search(text) is not None


# 「这个月扣了多少钱 然后还有多少钱」: her balance asked beside what the month cost.
BALANCE_TOO = re.compile(r"还(有|剩)(多少|几)(钱|块|话费)|(余额|话费)还(有|剩)|剩(多少|几)(钱|块)|余额(多少|是多少)")


def asks_balance_too(text: str) -> bool:
    return BALANCE_TOO.search(text) is not None


# 「我这个号码是什么时候办的」: when her line was opened, which only the operator's records say.
LINE_OPENED = re.compile(
    r"号(码)?[^，。,.!?！？]{0,4}(什么时候|啥时候|哪年|哪一年|几几年|多少年)[^，。,.!?！？]{0,2}(办|开|买|入网)的?"
)


def asks_when_line_opened(text: str) -> bool:
    return LINE_OPENED.search(text) is not None


# 「我这个套餐什么时候到期」: plans here run month by month with no end date.
PLAN_EXPIRY = re.compile(r"到期|过期|有效期|截止|期限|用到(什么时候|哪天|几号)")


def asks_plan_expiry(text: str) -> bool:
    return PLAN_EXPIRY.search(text) is not None


# 「怎么一直让我绑定 我不想绑」: why the number must be proven, not a choice between 绑定 and 解绑.
REFUSES_BINDING = re.compile(
    r"(不想|不要|不愿意?|不用|没必要)[^，。,.!?！？]{0,2}绑|(为什么|为啥|干嘛|凭什么|怎么)[^，。,.!?！？]{0,4}(要|让我|非要|一直让我|老让我|总让我)[^，。,.!?！？]{0,2}绑"
)


UNBINDS = re.compile(r"解绑|解除绑定|取消绑定|换绑")


def refuses_binding(text: str) -> bool:
    """Not 「我不想绑这个号了 帮我解绑」: unbinding is a request of its own."""
    return REFUSES_BINDING.search(text) is not None and UNBINDS.search(text) is None


# 「上次那个客服说给我回电话 到现在也没打」: a call-back promised and not kept.
CALLBACK_NOT_KEPT = re.compile(
    r"(回电|回电话|回个电话|打电话给我|给我打电话|联系我|打给我)[^。.!?！？]{0,10}"
    r"(没打|没有打|没来|没人|没联系|没有联系|还没|也没|都没|没等到)"  # not 没接到: she missed it
)


def says_callback_not_kept(text: str) -> bool:
    return CALLBACK_NOT_KEPT.search(text) is not None


# 「我的话费怎么变成负的了」: the balance below zero, asked about as a charge.
BALANCE_NEGATIVE = re.compile(r"负数|负的|成负|变负|负了")


def says_balance_negative(text: str) -> bool:
    return BALANCE_NEGATIVE.search(text) is not None


# 「我要投诉你们的网络 信号太差了」: the complaint's category, when the message says it (first match).
COMPLAINT_CATEGORY_WORDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("refund", re.compile(r"退费|退钱|退款")),
    ("billing", re.compile(r"乱扣|多扣|扣费|扣钱|吸费|扣了|乱收")),
    ("broadband", re.compile(r"宽带|wifi|光猫", re.IGNORECASE)),
    ("network", re.compile(r"信号|网络|网速|上不了网|没网|掉线|打不通|断网")),
    ("service", re.compile(r"态度|服务|营业员|骂人|不理人|敷衍|客服|挂(了|断)?(我)?的?电话|电话挂(了|断)|挂我")),
)


def complaint_category(text: str) -> str | None:
    """The category's value (core.vocabulary.TicketCategory), or None when it is not said."""
    return next((category for category, words in COMPLAINT_CATEGORY_WORDS if words.search(text)), None)


# 「哪个套餐流量最多」: the plans with the most data, not a verdict on hers.
MOST_DATA = re.compile(r"流量最(多|大)|最多(的)?流量|最大(的)?流量|流量(多|大)的套餐")
# 「你们这个套餐太坑了」: she finds her plan too dear (read as the plan list).
PLAN_TOO_DEAR = re.compile(r"坑|太贵|不划算|贵死|黑心|宰人|骗人")
# 「我还有多少钱 够不够用到月底」: whether her balance lasts until the next monthly fees.
BALANCE_ENOUGH = re.compile(r"够不够|够用|不够用|能用到|用到月底|撑到|还能用(几|多少)天|能用多久")


def asks_most_data(text: str) -> bool:
    return MOST_DATA.search(text) is not None


# 「我主要打电话 想要通话时间长的套餐」: the plans with the most minutes.
MORE_MINUTES = re.compile(
    r"通话(时间|时长|分钟)?(长|多|最多|够)|分钟(数)?(多|最多)|(主要|经常|老是|总是|天天|就是)打电话|电话打得多|打电话(多|比较多)"
)
PLAN_WITH_MORE_DATA = re.compile(r"流量(多|大|更多|足)")


def wants_more_minutes(text: str) -> bool:
    return MORE_MINUTES.search(text) is not None


def asks_plan_with_more_minutes(text: str) -> bool:
    """A plan asked for by its minutes (read as a question about her usage, too)."""
    return "套餐" in text and wants_more_minutes(text)


def wants_more_data(text: str) -> bool:
    """The plan she wants is one with more data (its order in a list of plans)."""
    return PLAN_WITH_MORE_DATA.search(text) is not None or asks_most_data(text)


# A plan's monthly fee said as a limit (「三十块钱以下的」「不超过五十块」) or an aim (「二十块钱左右的」);
# the amount itself is nlu's `amount` entity (五十, 50, ５０).
BUDGET_CEILING = re.compile(r"以下|以内|之内|不超过|不超|不到|低于|最多|顶多|封顶|别超过")
BUDGET_AROUND = re.compile(r"左右|上下|差不多|大概")
AROUND_SHARE = 0.3  # 「二十左右」: within 30 % of it, either way


@dataclass(frozen=True)
class PlanBudget:
    yuan: int
    around: bool  # about that much; else at most that much

    def admits(self, fee_fen: int) -> bool:
        aim = self.yuan * 100
        return abs(fee_fen - aim) <= aim * AROUND_SHARE if self.around else fee_fen <= aim

    def distance(self, fee_fen: int) -> int:
        return abs(fee_fen - self.yuan * 100)


# nlu's `amount` needs a unit (「三十块」); 「三十左右的」「五十以内」 say the fee without one.
_NUMBER = r"(\d{1,3}|[一二两三四五六七八九十百]{1,5})"
# The whole number, and not one of data, minutes or days: 「用不到十个G」「不到一百分钟」.
_NOT_MONEY = r"(?![\d一二两三四五六七八九十百]|\s*(个|G|g|M|m|T|分钟|分|兆|小时|天|号|月|年|岁|人|张|次))"
BUDGET_NUMBER = re.compile(
    _NUMBER
    + r"\s*(块|元)?钱?\s*(以下|以内|之内|左右|上下)|(不超过|不到|低于|最多|顶多|别超过)\s*"
    + _NUMBER
    + _NOT_MONEY
)
_CHINESE_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}


def small_number(word: str) -> int | None:
    """「50」「五十」「三十五」「一百」「一百五」 as a number (up to 999); None for anything else."""
    if word.isdigit():
        return int(word)
    if "百" in word:
        head, _, rest = word.partition("百")
        hundreds = _CHINESE_DIGITS.get(head or "一")
        tail = (_CHINESE_DIGITS.get(rest, -1) * 10 if len(rest) == 1 else small_number(rest)) if rest else 0
        return None if hundreds is None or tail is None or tail < 0 else hundreds * 100 + tail
    if "十" in word:
        head, _, rest = word.partition("十")
        tens = _CHINESE_DIGITS.get(head) if head else 1
        ones = _CHINESE_DIGITS.get(rest) if rest else 0
        return None if tens is None or ones is None else tens * 10 + ones
    return _CHINESE_DIGITS.get(word)


def plan_budget(text: str, amount: Any) -> PlanBudget | None:
    """The monthly fee she names for a plan, as a limit or an aim; None when she names none.
    `amount`: nlu's `amount` entity, if any."""
    if isinstance(amount, str) and amount.isdigit():
        amount = int(amount)
    if not isinstance(amount, int):
        said = BUDGET_NUMBER.search(text)
        amount = small_number(said.group(1) or said.group(5)) if said is not None else None
    if amount is None or not 1 <= amount <= 1000:
        return None
    if BUDGET_CEILING.search(text):
        return PlanBudget(amount, around=False)
    if BUDGET_AROUND.search(text):
        return PlanBudget(amount, around=True)
    return None


def finds_plan_too_dear(text: str) -> bool:
    return PLAN_TOO_DEAR.search(text) is not None


def asks_if_balance_lasts(text: str) -> bool:
    return BALANCE_ENOUGH.search(text) is not None


# 「你们几点下班」: the assistant's and the people's hours.
ASKS_HOURS = re.compile(r"几点(下班|上班|关门|开门)|(上班|工作|服务|营业)时间|晚上有人吗|有人值班")
# 「我的号码是多少来着 我忘了」: her own number.
ASKS_OWN_NUMBER = re.compile(
    r"我的?(手机)?号(码)?是多少|我(的)?(手机)?号(码)?忘了|忘了我的?(手机)?号(码)?|查(一下)?本机号码"
)


def asks_hours(text: str) -> bool:
    """The assistant's and the people's here; a shop's hours are an errand (营业厅)."""
    return ASKS_HOURS.search(text) is not None and "营业厅" not in text


def asks_own_number(text: str) -> bool:
    return ASKS_OWN_NUMBER.search(text) is not None


# 「上个月的账单怎么比平时多了十块」: a month set against the months before it.
COMPARED_WITH_BEFORE = re.compile(r"比(平时|平常|以前|往常|上个?月|之前|原来|以往|[0-9一二三四五六七八九十]{1,2}月)")


def compares_with_before(text: str) -> bool:
    return COMPARED_WITH_BEFORE.search(text) is not None


# 「我现在这个套餐是不是最划算的」: a verdict on her plan from her usage, not the plan shown again.
PLAN_VERDICT = re.compile(r"划算|合适|值不值|值得|适合我|亏不亏|吃亏")
# 「你们的服务太差了」: a complaint about service, said plainly.
SERVICE_COMPLAINED_OF = re.compile(
    r"(服务|态度)[^，。,.!?！？]{0,3}(太差|很差|差劲|不好|恶劣|烂)|"
    r"(客服|人工|工作人员)[^，。,.!?！？]{0,6}(挂(断)?(了)?(我)?的?电话|挂(了|断)|不理(我)?|骂(我)?|凶(我)?|敷衍)|挂我电话"
)
# 「我的流量怎么不够用啊 每个月都超」: her plan is too small for her.
ALLOWANCE_TOO_SMALL = re.compile(
    r"(每个月|每月|老是|总是|经常|天天|月月)[^，。,.!?！？]{0,4}(超|不够)|(流量|分钟|通话)[^，。,.!?！？]{0,4}(老是|总是|经常)?不够用"
)
# 「不知道充多少 一般充多少合适」: how much to top up.
HOW_MUCH_TO_TOP_UP = re.compile(r"充多少(合适|好|比较好|够)|不知道充多少|一般充多少")
# 「我有两个号 帮我查一下另一个号的话费」: her other line.
OTHER_OWN_LINE = re.compile(r"另(一|外一?)(个|张)(号|号码|卡|手机号)|第二(个|张)(号|号码|卡)|我的?另(一|外)个")


def asks_plan_verdict(text: str) -> bool:
    return PLAN_VERDICT.search(text) is not None


def complains_of_service(text: str) -> bool:
    return SERVICE_COMPLAINED_OF.search(text) is not None


def says_allowance_too_small(text: str) -> bool:
    """Not 「流量不够用了 有没有临时加一点的」: more data now is a data pack (`asks_for_a_data_pack`)."""
    return ALLOWANCE_TOO_SMALL.search(text) is not None and not asks_for_a_data_pack(text)


def asks_how_much_to_top_up(text: str) -> bool:
    return HOW_MUCH_TO_TOP_UP.search(text) is not None


def asks_about_her_other_line(text: str) -> bool:
    return OTHER_OWN_LINE.search(text) is not None


# 「帮我看看有没有什么优惠活动」: there is no promotions list to show (read as the plan list). Old
# people's, students' and others' discounts are other questions (the elder plans, an errand), and so
# are points and a data pack (「流量优惠包」).
PROMOTIONS = re.compile(r"优惠|活动|促销|福利|打折")
NOT_PROMOTIONS = re.compile(r"老人|老年|长辈|学生|残疾|低保|军人|积分|包|套餐")
# 「充值送话费的活动 钱没到」: a promotion she took part in and did not get, which is a dispute.
NOT_GIVEN = re.compile(r"(?<!有)没(有)?(送|到|返|给)")


def asks_for_promotions(text: str) -> bool:
    return (
        PROMOTIONS.search(text) is not None
        and NOT_PROMOTIONS.search(text) is None
        and CONTESTED.search(text) is None
        and NOT_GIVEN.search(text) is None
    )


# 「我想改个套餐 但是不知道哪个合适」: she wants advice on which plan, not to name one.
WANTS_ADVICE = re.compile(
    r"不知道[^，。,.!?！？]{0,4}(哪个|哪种|哪一个|什么|啥)|哪(个|种|一个)[^，。,.!?！？]{0,2}(合适|适合|好|划算)|"
    r"推荐|帮我(选|挑)"
)


def wants_plan_advice(text: str) -> bool:
    return WANTS_ADVICE.search(text) is not None


BIND = re.compile(r"绑定|绑上|绑一下|绑个|绑到|绑在|关联")


def asks_to_bind(text: str) -> bool:
    return BIND.search(text) is not None


# 「你是机器人吗」: asked what it is (honestly answered), not yet for a person.
ASKS_IF_BOT = re.compile(r"(你|您)是(不是)?(机器人|真人|人工|ai|智能|自动)", re.IGNORECASE)
ASKS_FOR_A_PERSON = re.compile(r"(转|找|要|叫|换)(个)?(人工|真人|客服)|人工客服")


def asks_if_a_bot(text: str) -> bool:
    return ASKS_IF_BOT.search(text) is not None and ASKS_FOR_A_PERSON.search(text) is None


# 「我的SIM卡要换成5G的」: the card in the phone, not a plan.
SIM_CARD = re.compile(r"sim卡|sim|芯片|大卡|小卡|换卡|补卡", re.IGNORECASE)


def means_the_sim_card(text: str) -> bool:
    return SIM_CARD.search(text) is not None


# A request said in plain words, which a long or chatty message can bury: 「……不知道怎么查话费」
# 「套餐里面通话还剩多少分钟」. Used only to choose among the classifier's own likeliest meanings.
PLAIN_REQUESTS = {
    "check_usage": re.compile(
        r"(还剩|剩多少|剩余|剩下|用了多少)[^，。,.!?！？]{0,4}(流量|通话|分钟)|"
        r"(流量|通话|分钟)[^，。,.!?！？]{0,6}(还剩|剩多少|剩余|剩下|用了多少)"
    ),
    "check_bill": re.compile(
        r"(这个|本|上个?|\d{1,2})月[^，。,.!?！？]{0,6}(花了|用了|扣了)多少钱|(看|查)[^，。,.!?！？]{0,4}账单"
    ),
    "check_balance": re.compile(
        r"查[^，。,.!?！？]{0,4}(话费|余额)|(话费|余额)[^，。,.!?！？]{0,3}(还有|还剩|剩)?多少|(还有|还剩|剩)多少(话费|钱)|"
        r"还能用(几|多少)天|能用到(哪天|几号|什么时候)"
    ),
}


# 「查一下上个月的话费」 is the bill, not the balance.
ABOUT_A_MONTH = re.compile(r"月|账单|明细")


# 「我孙女帮我弄的这个微信 我也不太懂 我就想问问 我这个月电话费多少钱」: a relative named in passing,
# the question about her own line.
OWN_LINE = re.compile(r"我(这个月|这个|这|的|自己)?的?(号|号码|手机|卡|电话费|话费|流量|余额)")


USAGE_WORDS = re.compile(r"流量|通话|分钟")


def about_usage(text: str) -> bool:
    """「查下我老婆的流量」: data or call minutes, not money."""
    return USAGE_WORDS.search(text) is not None and MONEY_WORDS.search(text) is None


# 「闺女 帮我看看我这手机还能用几天」: an old person calls the assistant 闺女; nobody else is meant.
VOCATIVE = re.compile(
    r"^\s*(闺女|姑娘|小姑娘|丫头|小伙子|小伙|孩子|娃|妹子|小妹|妹妹|同志|小同志|师傅)[\s，,、！!啊呀]+"
)


def addresses_the_assistant(text: str) -> bool:
    return VOCATIVE.search(text) is not None


def kin_only_called(text: str) -> bool:
    """「闺女啊 我想充个话费」: the relative word is only how she calls the assistant; nobody else is
    in the message (not 「闺女 帮我查一下她的话费」)."""
    vocative = VOCATIVE.search(text)
    if vocative is None:
        return False
    rest = text[vocative.end() :]
    return vocative.group(1) not in rest and not any(other in rest for other in OTHER)


# 「那通话呢」「10月的呢」: the last request again, for what this short message names.
FOLLOW_UP = re.compile(r"^\s*(那|那么|还有)?[^，。,.!?！？]{1,10}呢[？?。.！!]*\s*$")


def is_follow_up(text: str) -> bool:
    return FOLLOW_UP.search(text) is not None


def own_line_question(text: str) -> str | None:
    """The balance, bill or usage question about her own line, when that is what she asks (also
    when she calls the assistant 闺女 first)."""
    vocative = VOCATIVE.search(text)
    if vocative is not None:
        if not kin_only_called(text):  # 「闺女 帮我查一下她的话费」
            return None
        text = text[vocative.end() :]
        if plain_request(text, ("check_balance", "check_usage")) is None and OWN_LINE.search(text) is None:
            return None
    elif OWN_LINE.search(text) is None:
        return None
    plain = plain_request(text, ("check_balance", "check_usage"))
    if plain is None and PLAIN_REQUESTS["check_balance"].search(text):  # 「这个月电话费多少钱」: the month's
        return "check_bill"
    return plain


def plain_request(text: str, among: Sequence[str]) -> str | None:
    """The one request of `among` that the message names in plain words, if exactly one."""
    named = [name for name in among if name in PLAIN_REQUESTS and PLAIN_REQUESTS[name].search(text)]
    if "check_balance" in named and ABOUT_A_MONTH.search(text):
        named.remove("check_balance")
    return named[0] if len(named) == 1 else None


# 「给我发个验证码」: the binding code, not a request of the menu; while a code is awaited, also
# 「没收到 再发一个」 (without one awaited, 「收不到短信」 is a fault, not binding).
CODE = re.compile(r"验证码")
RESEND = re.compile(r"验证码|再发|重发|重新发|没收到|收不到|没有收到")


def mentions_the_code(text: str) -> bool:
    return CODE.search(text) is not None


def asks_to_resend(text: str) -> bool:
    return RESEND.search(text) is not None


def plan_is_for(relative: str, text: str) -> bool:
    """「有没有适合老年人的套餐 我妈用」「给我爸推荐个套餐」: the plan is for the relative, whose usage
    the assistant has not seen; not 「我爸说这个套餐不错 适合我吗」."""
    name = re.escape(relative)
    return re.search(rf"{name}[^，。,.!?！？]{{0,2}}用|给我?的?{name}|[她他]用|给[她他]|适合[她他]", text) is not None


# 「帮我开通来电显示」: a service she wants added (the assistant only lists and cancels them). Not
# 「我开通了哪些业务」.
SUBSCRIBE = re.compile(r"(帮我|给我|我想|我要|想|要|能不能)(开通|开|订购|订|办理|办|加)(?![了的过])(?!通[了的过])")


def asks_to_subscribe(text: str) -> bool:
    return SUBSCRIBE.search(text) is not None


DATA_PACK = re.compile(r"流量包|加油包|叠加包")
# 「流量不够用了 有没有那种临时加一点的」: more data now, whatever she calls it.
MORE_DATA = re.compile(
    r"流量不够用?了?[^。.!?！？]{0,12}(加|买|办|充)|(临时|再|多)(加|买)(点|一点|些)?流量|"
    r"(加|买)(点|一点|些)?流量|临时加"
)


def asks_for_a_data_pack(text: str) -> bool:
    """「我想办个流量包」: buying data, which the operator sells and the assistant cannot."""
    return (asks_to_subscribe(text) and DATA_PACK.search(text) is not None) or MORE_DATA.search(text) is not None


# A plan said by its price (「改成59的那个」「换59块的」) or by direction (「便宜点的」「流量多一点的」).
PLAN_PRICE = re.compile(r"(?<!\d)(\d{1,3})\s*(元|块)?\s*(的|那个|那款|那档|套餐|$)")
CHEAPER = re.compile(r"便宜|降|少一点|少点|低一点|低点")
CHEAPEST = re.compile(r"最便宜|最低|最少钱|最省钱")
# 「换个划算的」 is a cheaper plan; 「哪个套餐最划算」 is the recommendation from her usage.
BETTER_VALUE = re.compile(r"省钱|划算")
DEARER = re.compile(r"升|贵一点|多一点|大一点|多点|流量更多|流量多的")


def names_a_direction(text: str) -> bool:
    """「换成便宜一点的」「流量多点的」: which way she wants her plan to go."""
    return any(rule.search(text) for rule in (CHEAPER, BETTER_VALUE, DEARER))


def plans_meant(text: str, current: Plan, offered: Sequence[Plan], value_is_cheaper: bool = True) -> list[Plan] | None:
    """The plans she means, nearest first; [] when she asked for cheaper (dearer) and there is none;
    None when she said neither a price nor a direction. `value_is_cheaper`: 「划算」 means cheaper."""
    price = PLAN_PRICE.search(text)
    if price is not None:
        fen = int(price.group(1)) * 100
        at_price = [p for p in offered if p.monthly_fee_fen == fen]
        if at_price:
            return at_price
    if CHEAPER.search(text) or (value_is_cheaper and BETTER_VALUE.search(text)):
        cheaper = [p for p in offered if p.monthly_fee_fen < current.monthly_fee_fen]
        if CHEAPEST.search(text):  # 「换成最便宜的」: the cheapest first, not the nearest
            return sorted(cheaper, key=lambda p: p.monthly_fee_fen)
        return sorted(cheaper, key=lambda p: -p.monthly_fee_fen)
    if DEARER.search(text):
        dearer = [p for p in offered if p.monthly_fee_fen > current.monthly_fee_fen]
        return sorted(dearer, key=lambda p: p.monthly_fee_fen)
    return None


# A request that is itself her remedy (「字看不清，用语音说给我听」) is served, not handed on.
REMEDY_INTENTS = frozenset({"voice_reply_on"})
SPOKEN_ANSWERS = re.compile(r"(说|念|读|讲)(话)?给我听|用语音|语音回复|发语音")


# What asking for spoken answers says somewhere: the voice itself, hearing, or not reading.
VOICE_CUES = re.compile(
    r"语\s*音|声音|说\s*给|念|读|讲给|(开口|直接)说|说话|听|不认|不识|看不(清|过来|见)|眼睛|字(太)?(多|小)|打字|开车"
)


def asks_for_voice(text: str) -> bool:
    """The words of a request for spoken answers (「你念给我听」「发语音」「我看不清字」): a message
    read as one without any of them (「刚才那个客服把我电话挂了」) is not one."""
    return VOICE_CUES.search(text) is not None


def wants_spoken_answers(parse: Mapping[str, Any]) -> bool:
    """She asks for the answers spoken, as her request or as a second one in the message."""
    if (parse.get("intent") or {}).get("name") in REMEDY_INTENTS:
        return True
    seconds = {e.get("value") for e in parse.get("entities") or [] if e.get("entity") == "second_request"}
    return bool(seconds & REMEDY_INTENTS) or SPOKEN_ANSWERS.search(str(parse.get("text") or "")) is not None


# Who is said not to manage: the subject nearest before the words, within a few characters.
SUBJECT_WINDOW = 6
SELF = frozenset("我俺咱")
OTHER = frozenset("他她")


# 「我家老人不会用智能手机 能不能换个老人机的套餐」: the old person is someone at home, not the writer.
OLD_ONE_AT_HOME = re.compile(
    r"(我|俺)?家(里)?的?老人|给(家里|我家)?的?老人|老人家?[^，。,.!?！？]{0,2}(不会|用不来|看不懂)"
)


OLD_ONE_AT_HOME_NAMED = re.compile(r"家里?的?老人家?|长辈")


def asks_a_plan_for_an_old_one_at_home(text: str) -> bool:
    return OLD_ONE_AT_HOME.search(text) is not None and "套餐" in text


def says_cannot_manage(parse: Mapping[str, Any]) -> bool:
    """She herself cannot manage: 「我不会弄」, 「看不懂」. Not 「我妈不会用手机」 nor 「她看不懂」,
    where a relative (nlu/'s `relative` entity) or 他/她 is nearer before the words than 我."""
    if (parse.get("intent") or {}).get("name") in REMEDY_INTENTS:
        return False
    text = str(parse.get("text") or "")
    others = _relative_ends(parse, text) | {m.end() for m in OLD_ONE_AT_HOME_NAMED.finditer(text)}
    return any(_subject_is_self(text, match.start(), others) for match in CANNOT_MANAGE.finditer(text))


def _relative_ends(parse: Mapping[str, Any], text: str) -> set[int]:
    ends = set()
    for entity in parse.get("entities") or []:
        if entity.get("entity") != "relative":
            continue
        if isinstance(entity.get("end"), int):
            ends.add(int(entity["end"]))
        else:  # an entity without offsets: where its words are
            value = str(entity.get("value") or "")
            ends |= {m.end() for m in re.finditer(re.escape(value), text)} if value else set()
    return ends


def _subject_is_self(text: str, start: int, relative_ends: set[int]) -> bool:
    for index in range(start - 1, max(-1, start - 1 - SUBJECT_WINDOW), -1):
        if text[index] in SELF:
            return True
        if text[index] in OTHER or index + 1 in relative_ends:
            return False
    return True


# Money to move, in a message about a relative's line (「她的话费帮她充五十」), not to look at.
TOP_UP_WORDS = re.compile(r"充(?!电)|交(话)?费|交钱|缴|交一下|[帮给替][她他我]?交")


def asks_a_top_up(parse: Mapping[str, Any]) -> bool:
    return bool(TOP_UP_WORDS.search(str(parse.get("text") or ""))) and not sounds_like_dispute(parse)


def ranking(parse: Mapping[str, Any]) -> list[tuple[str, float]]:
    """(intent, confidence) best first, without the fallback pseudo-intent."""
    ranked = parse.get("intent_ranking") or []
    if not ranked and parse.get("intent"):
        ranked = [parse["intent"]]
    return [
        (str(item.get("name")), float(item.get("confidence") or 0.0))
        for item in ranked
        if item.get("name") and item.get("name") != "nlu_fallback"
    ]


def confidence_of(parse: Mapping[str, Any], intent: str) -> float:
    return next((confidence for name, confidence in ranking(parse) if name == intent), 0.0)


def sounds_like_dispute(parse: Mapping[str, Any]) -> bool:
    """Contested money: dispute words in the text, or the classifier's runner-up is a dispute."""
    if DISPUTE_CUES.search(str(parse.get("text") or "")):
        return True
    return any(name == "dispute_charge" and confidence >= 0.2 for name, confidence in ranking(parse)[:3])


# 「我办的那个视频会员能不能退了 我没用过」: a service she says she never used or never ordered.
NEVER_USED = re.compile(r"没(开|用|办)过|不是我(开|办)的")


def says_never_used(text: str) -> bool:
    return NEVER_USED.search(text) is not None


# 「那个彩铃是什么时候开的 我怎么不知道」「视频会员是谁给我开的」: how a service of hers began.
SERVICE_ORIGIN = re.compile(
    r"(什么时候|啥时候|哪天|几号|何时|谁)[^，。,.!?！？]{0,4}(开|订|办)|(没|没有|从没|从来没)(开通|开|订|订购|办|要)过|"
    r"我(怎么|都|咋)不知道|不是我(开|订|办)的|我没(开|订|办)(啊|呀|的)?$|自己开(通)?的|给我开(通)?的|莫名其妙(开|多)(了|出)"
)


def asks_how_a_service_began(text: str) -> bool:
    return SERVICE_ORIGIN.search(text) is not None


SERVICE_CONTESTED = re.compile(r"不知道|不是我|谁[^，。,.!?！？]{0,3}开|(没|从没|从来没)(开通|开|订|办|要)过")


def contests_a_service(text: str) -> bool:
    """She did not know of it or want it (「我怎么不知道」「谁给我开的」), or disputes its fee."""
    return SERVICE_CONTESTED.search(text) is not None or DISPUTE_CUES.search(text) is not None


# 「我刚才说错了 不是要充值」: what she said before is taken back (not 「5G套餐是不是要换手机」).
TAKES_BACK = re.compile(
    r"(说|打|写|按|点|输)错了|搞错了|弄错了|不是这个意思|我不是(要|想|说)|(?<!是)不是要|不要(充|换|退)了|算了[，,\s]*不(充|换|退)"
)


def takes_back(text: str) -> bool:
    return TAKES_BACK.search(text) is not None


def clear_transaction_request(parse: Mapping[str, Any], intent: str) -> bool:
    """A transaction may open: the message is confidently that request and no dispute. A named
    service she never used, asked to be stopped, is a cancellation: it stops a charge and sells
    nothing (what was charged is a person's to check, `replies.never_used_refund`)."""
    if confidence_of(parse, intent) < TRANSACTION_MIN_CONFIDENCE or takes_back(str(parse.get("text") or "")):
        return False
    if not sounds_like_dispute(parse):
        return True
    text = str(parse.get("text") or "")
    names_a_service = any(e.get("entity") == "service" for e in parse.get("entities") or [])
    return intent == "cancel_service" and names_a_service and DISPUTE_CUES.search(NEVER_USED.sub("", text)) is None


def clarify_options(parse: Mapping[str, Any]) -> list[str]:
    """The two or three likeliest requests, for 「您是想：1 … 2 … 0 转人工」.

    A dispute-sounding message offers the charge details first and never a transaction."""
    dispute = sounds_like_dispute(parse)
    options = [
        name
        for name, confidence in ranking(parse)
        if name in REQUEST_LABELS
        and confidence >= OPTION_MIN_CONFIDENCE
        and not (dispute and name in TRANSACTION_INTENTS)
    ]
    if dispute:
        options = ["dispute_charge"] + [name for name in options if name != "dispute_charge"]
    return options[:MAX_OPTIONS]


# 「上个月的话费和这个月的流量」: her usage joined to another account question, which the classifier
# can rank too low to be a second request of its own.
USAGE_TOO = re.compile(r"(和|还有|以及|跟|顺便|再)[^，。,.!?！？]{0,8}(流量|通话|分钟)")
ASKS_USAGE_TOO = frozenset({"check_bill", "check_balance"})


def second_request(parse: Mapping[str, Any]) -> str | None:
    """The intent of a second request in the same message (entity `second_request`, from nlu/)."""
    first = (parse.get("intent") or {}).get("name")
    found = [e.get("value") for e in parse.get("entities") or [] if e.get("entity") == "second_request"]
    for value in found:
        if value in REQUEST_LABELS and value != first:
            return str(value)
    if not found and first in ASKS_USAGE_TOO and USAGE_TOO.search(str(parse.get("text") or "")):
        return "check_usage"
    return None
