"""Everything the subscriber reads that is not the assistant's own answer, in one place.

The assistant's answers live in actions/replies.py (and a few static ones in domain.yml); these
are the gateway's notices, the voice-note echoes and the handoff notices. Elderly subscribers get
shorter, plainer words. What agents read is in the console's templates (handoff/templates/).
"""

from __future__ import annotations

# ---- the gateway -------------------------------------------------------------------------------
UNSUPPORTED = "抱歉，我暂时只能看懂文字和语音消息。您可以直接输入问题，比如「查余额」，需要人工服务请回复「人工」。"
EMPTY_TEXT = "您好，请问有什么可以帮您？可以直接输入问题，比如「查余额」「充话费」。"
UNKNOWN_MENU = "抱歉，这个菜单暂时不可用。您可以直接输入问题，比如「查余额」。"
APOLOGY = "抱歉，系统暂时有点忙，您的消息我们已经收到，恢复后会第一时间回复您。"
HANDOFF_RECORDED = "已为您登记人工服务，客服人员会尽快联系您，请留意微信消息。"
VOICE_NOT_UNDERSTOOD = "您的语音已收到，不过我暂时还听不懂语音，您也可以直接打字告诉我。"

# ---- voice notes -----------------------------------------------------------------------------
ECHO = "您说的是：{text}"
ASK_REPEAT_HEARD = (
    "不好意思，我没太听清，好像是「{text}」。请您再说一遍，或者直接打字告诉我；需要人工服务请回复「人工」。"
)
ASK_REPEAT_SILENT = "不好意思，我没听清您说的话。请您再说一遍，或者直接打字告诉我；需要人工服务请回复「人工」。"
HANDOFF_AFTER_REPEAT = "还是没能听清，您别着急，我这就请人工客服来帮您，您的语音已经转给客服了。"
HANDOFF_NO_ASR = "您的语音已收到。我现在听不了语音，已经把这条语音转给人工客服，请稍候；您也可以直接打字告诉我。"
MEDIA_FAILED_RETRY = "不好意思，这条语音没能收到，请您再发一次，或者直接打字告诉我。"
MEDIA_FAILED_HANDOFF = "语音还是没能收到，您别着急，我这就请人工客服来帮您。"
# Voice replies (gateway/voice_replies.py): the switch on is also said aloud.
VOICE_REPLIES_ON = "好的，以后我的回答也会用语音说给您听。想换回文字，回复「文字」就行。"
VOICE_REPLIES_OFF = "好的，以后只用文字回答您。想听语音，回复「语音回复」。"

# ---- handoff ---------------------------------------------------------------------------------
HANDED_BACK = "已为您转回智能助手。"
HANDED_BACK_ELDER = "已为您转回智能助手。有事直接说。"
# handed back between the gateway's check and her message: the assistant answers from now on
HANDED_BACK_SAY_AGAIN = "已为您转回智能助手，请再说一次您的问题。"
CLOSED = "本次人工服务已结束，谢谢您。还有问题随时留言。"
CLOSED_ELDER = "人工服务结束了，谢谢您。有事再留言。"


def waiting(ahead: int, elder: bool, minutes: int | None = None) -> str:
    """The one true sentence when a chat joins a queue: who is ahead and, when known, about how
    long until a person answers (`minutes`, from handoff.routing.expected_wait_minutes)."""
    when = f"客服大约{minutes}分钟后来" if minutes else "客服马上来"
    if elder:
        return (
            f"已经请人工客服来帮您，前面还有{ahead}位，{when}，请稍等。"
            if ahead
            else f"已经请人工客服来帮您，{when}，请稍等。"
        )
    if ahead:
        return f"正在为您转接人工客服，您前面还有{ahead}位，{when}。"
    return f"正在为您转接人工客服，{when}。"


def still_waiting(ahead: int, elder: bool) -> str:
    if elder:
        return f"收到。前面还有{ahead}位，客服马上来。" if ahead else "收到。客服马上来。"
    if ahead:
        return f"您的消息已转给人工客服。您前面还有{ahead}位，请稍等。"
    return "您的消息已转给人工客服，客服马上来。"


def assigned(agent_name: str, elder: bool) -> str:
    if elder:
        return f"客服{agent_name}来了，您直接说就行。"
    return f"人工客服{agent_name}为您服务，请直接说明您的问题。"


def introduced(agent_name: str, elder: bool, reply: str) -> str:
    """The agent's first message carries the 「客服小王来了」 notice, so the notice never spends
    one of WeChat's five customer-service messages on its own."""
    lead = f"客服{agent_name}来了。" if elder else f"人工客服{agent_name}为您服务。"
    return f"{lead}\n{reply}"


# ---- after a chat: one numbered satisfaction question, stored ------------------------------
SURVEY_QUESTION = "请给本次服务打个分，回复数字：\n1 满意\n2 一般\n3 不满意"
SURVEY_THANKS = {
    1: "谢谢您的评价！",
    2: "谢谢您的评价，我们会做得更好。",
    3: "谢谢您告诉我们，很抱歉没让您满意。明天会有专人回访您。",
}


def with_survey(farewell: str) -> str:
    """The closing message and the satisfaction question as one message (one of the five)."""
    return f"{farewell}\n{SURVEY_QUESTION}"


def later_notice(farewell: str) -> str:
    """A closing message WeChat's quota refused at the time: delivered with the next answer."""
    return f"（刚才的人工服务已结束）{farewell}"


def callback_promise(deadline: str, why: str, elder: bool) -> str:
    """`deadline` is e.g. 「今天18点」; `why` one of "closed", "busy", "waited"."""
    if elder:
        return f"现在客服不在。我们会在{deadline}前给您打电话。"
    lead = {
        "closed": "现在不是人工服务时间",
        "busy": "现在没有空闲的人工客服",
        "waited": "让您久等了，客服都在忙",
    }.get(why, "人工客服暂时无法接入")
    return f"{lead}。我们会在{deadline}前给您回电，来电必复。您也可以继续问我话费、流量等问题。"


def callback_for_lost_phone(deadline: str, elder: bool) -> str:
    if elder:
        return f"客服会在{deadline}前在这里回复您，不会打您丢的那个号码。"
    return f"客服会在{deadline}前在这里回复您，不会拨打丢失的号码。要电话联系，请留一个能接通的号码。"


def callback_without_number(deadline: str, elder: bool) -> str:
    if elder:
        return f"客服会在{deadline}前回复您。"
    return f"您还没有绑定手机号，客服会在{deadline}前在这里回复您。"


# ---- payment of top-ups (the gateway's payment page and receipt) -----------------------------
PAY_RECEIPT_OWN = "充值成功！{phone}已到账{amount}，当前余额{balance}。订单号：{order_no}"
PAY_RECEIPT_OTHER = "亲情付成功！已为{phone}充值{amount}。订单号：{order_no}"
PAY_PAGE_BUTTON = "微信支付"
PAY_PAGE_DONE = "支付完成，到账后会在微信里通知您。"
PAY_PAGE_FAILED = "没有支付成功，您可以再点一次。"
PAY_PAGE_NO_WECHAT = "请在微信里打开这个链接支付。"
PAY_PAGE_PAID = "这笔充值已经支付过了。"
PAY_PAGE_CLOSED = "这笔充值已取消或未确认，请在对话里重新办理。"
PAY_PAGE_UNKNOWN = "没有找到这笔充值。"
PAY_PAGE_UNAVAILABLE = "支付暂时不可用，请稍后再打开这个链接。"


# ---- notices outside a conversation (gateway/notices.py) ---------------------------------------
# Customer-service text of each notice kind (inside the 48-hour window); the fields are the
# notice's own (see NOTICE_FIELDS in wechat/notice_templates.py).
NOTICE_TEXTS = {
    "callback_reminder": "【回访提醒】您的工单{ticket_no}（{subject}）将于{time}联系您，请保持电话畅通。",
    "ticket_progress": "【工单进度】您的工单{ticket_no}：{progress}。",
    "ticket_resolved": "【工单已办结】您的工单{ticket_no}已处理完毕：{result}。如有疑问请直接回复。",
    "low_balance": "【余额提醒】您的号码{phone}余额仅剩{balance}，欠费将于{cutoff}起停机，请及时充值。",
    "suspension_warning": "【停机提醒】您的号码{phone}将于{time}停机，原因：{reason}。如有疑问请直接回复。",
}
# What agents and supervisors read about a notice (csbot notices list, the console).
NOTICE_STATUS_LABELS = {
    "queued": "待发送",
    "sent": "已发送",
    "refused_no_consent": "未发送：用户未订阅该通知",
    "failed": "发送失败",
}
NOTICE_NOT_CONFIGURED = "窗口已关闭，且该类通知未配置订阅通知或模板消息"
NOTICE_NO_CONSENT = "客服消息窗口已关闭，用户未同意接收该订阅通知"
NOTICE_CONSENT_REVOKED = "微信拒绝发送（43101）：用户未订阅或已取消订阅"


# ---- tickets: complaints, fault reports, progress, resolution (actions/ticket_form.py,
# handoff/tickets.py) ------------------------------------------------------------------------
TICKET_CATEGORY_LABELS = {
    "billing": "乱扣费",
    "refund": "退费",
    "service": "服务",
    "network": "网络",
    "broadband": "宽带",
    "other": "其他",
    "callback": "回电",
    "follow_up": "回访",
}
TICKET_KIND_LABELS = {"complaint": "投诉", "fault": "报修", "callback": "回电", "follow_up": "回访"}
TICKET_STATUS_LABELS = {"open": "待处理", "in_progress": "处理中", "resolved": "已解决", "closed": "已关闭"}
# The complaint's numbered categories, in the order asked.
COMPLAINT_CHOICES = ("billing", "refund", "service", "network", "broadband", "other")
# A technician's visit: the numbered time slots offered.
TIME_SLOTS = ("今天下午", "明天上午", "明天下午", "明天晚上")

COMPLAINT_ASK_CATEGORY = "好的，帮您登记投诉。请问是哪方面？回复数字：\n" + "\n".join(
    f"{n} {TICKET_CATEGORY_LABELS[c]}" for n, c in enumerate(COMPLAINT_CHOICES, start=1)
)
COMPLAINT_ELDER_TO_PERSON = "您的投诉我们记下了，这就请客服跟您说。"
COMPLAINT_ASK_WHAT = "请用一两句话说说发生了什么。"
ASK_CONTACT = "请留一个能打通的手机号（11位），处理时好找到您。"
ASK_CONTACT_AGAIN = "这个号码好像不对，请输入11位手机号。回复0找人工客服。"
FAULT_ASK_WHAT = "好的，帮您报修。请说说哪里出了问题，比如「打不了电话」「家里没信号」。"
FAULT_ASK_WHERE = "请发送您的位置（对话框右下角 + → 位置），或直接输入详细地址。"
FAULT_ASK_SLOT = "维修人员什么时间联系上门方便？回复数字：\n" + "\n".join(
    f"{n} {slot}" for n, slot in enumerate(TIME_SLOTS, start=1)
)
ASK_NUMBER_AGAIN = "请回复上面的数字。回复0找人工客服。"
TICKET_FORM_CANCELLED = "好的，已取消登记。还有什么可以帮您？"
NO_TICKETS = "您还没有工单。要投诉请说「我要投诉」，报修请说「报修」。"
LOCATION_NOTED = "收到您的位置。如需报修，请说「报修」。"
IMAGE_NOTED = "收到图片。如需投诉或报修，请说「我要投诉」或「报修」。"


def complaint_opened(number: str, deadline: str, phone: str) -> str:
    return f"已登记投诉，单号{number}。\n我们会在{deadline}前联系您（{phone}）。\n查进度请回复「工单进度」。"


def fault_opened(number: str, deadline: str, phone: str, slot: str) -> str:
    return (
        f"已为您报修，单号{number}。\n维修人员会在{deadline}前联系您（{phone}），"
        f"上门时间按您选的{slot}安排。\n查进度请回复「工单进度」。"
    )


def attached_to_ticket(what: str, number: str) -> str:
    return f"收到{what}，已加到您的工单{number}。"


def ticket_line(number: str, kind: str, category: str, status: str, when: str) -> str:
    """One ticket in the progress answer; `when`: the promise, or the resolution."""
    what = TICKET_KIND_LABELS.get(kind, kind)
    if category not in ("callback", "follow_up"):
        what += "·" + TICKET_CATEGORY_LABELS.get(category, category)
    return f"{number} {what}：{TICKET_STATUS_LABELS.get(status, status)}，{when}"


def ticket_progress(lines: list[str]) -> str:
    return "您的工单：\n" + "\n".join(lines)


def ticket_promise(deadline: str, overdue: bool) -> str:
    return f"已超过承诺时间（{deadline}），已催办" if overdue else f"{deadline}前给您答复"


TICKET_SURVEY_THANKS = {
    1: "谢谢您的评价！",
    2: "谢谢您的评价，我们会做得更好。",
    3: "很抱歉没让您满意，我们会再跟进。还需要帮助请回复「人工」。",
}


def ticket_resolved(number: str, resolution: str) -> str:
    """The resolution announced to the subscriber, with the one numbered satisfaction question."""
    return f"您的工单{number}已处理：{resolution}\n{SURVEY_QUESTION}"
