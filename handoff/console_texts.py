"""What agents read that code produces: flash messages after an action, plain-text errors, the
refusals of console actions, the notes in a transcript and the audit details. The pages
themselves are in handoff/templates/; what subscribers read is in core/wording.py."""

from __future__ import annotations

# ---- plain-text errors --------------------------------------------------------------------
LOGIN_REQUIRED = "请先登录"
CSRF_FAILED = "请求校验失败（CSRF），请刷新页面后重试。"
SUPERVISORS_ONLY = "只有主管可以查看这个页面。"
NO_SUCH_CHAT = "找不到这个会话。"
NO_TASK_NUMBER = "找不到这个任务的号码。"
NO_VOICE_STORE = "语音存储未接通。"
VOICE_NOT_SAVED = "这条语音没有保存下来。"
VOICE_UNPLAYABLE = "这条语音无法播放。"
CROSS_SITE_SOCKET = "跨站连接被拒绝"

# ---- flash messages -----------------------------------------------------------------------
READY = "已开始接单：系统会自动给您分配会话。"
NOT_READY = "已暂停接单：不会再自动分配新会话。"
TAKEN = "已接入，请先向客户问好。"
NOT_SENT = "未发送"
TRANSFERRED_TO_AGENT = "已转给其他客服。"
TRANSFERRED_TO_QUEUE = "已转到队列。"
HANDED_BACK = "已转回智能助手。"
CLOSED = "会话已结束。"
BAD_REQUEST = "请求的内容不对。"
TASK_RETRY_LATER = "已记录：未接通，任务两小时后再提醒。"
TASK_DONE = "已记录处理结果。"
GREEN_CHANNEL_ONLY_VOLUNTARY = "只有65岁以上客户、因停机保号停机的号码可以走绿色通道。"
LOST_LINE_REFUSED = (
    "挂失的号码不能在这里复机：手机可能在别人手里，微信绑定不能证明身份。"
    "请客户本人带身份证到营业厅，或用其他电话拨打客服热线核实身份，由主管办理。"
)


def callback_created(task_id: int, due_local: str) -> str:
    return f"已创建回电任务 #{task_id}，请在{due_local}前回电。"


def green_channel_done(outcome: str) -> str:
    return f"绿色通道：{outcome}（已记录审计日志）。"


# ---- tickets ----------------------------------------------------------------------------------
NO_SUCH_TICKET = "没有这个工单，或您无权查看。"
NOT_YOUR_DESK = "只能编辑您所在班组的快捷回复。"
TICKET_TAKEN = "已接手这个工单。"
NOTE_SAVED = "备注已保存（仅客服可见）。"
LABELS_SAVED = "标签已保存。"
TICKET_RESOLVED = "工单已解决，处理结果已发给用户，并请用户评价。"
CANNED_SAVED = "快捷回复已保存。"


def ticket_assigned(name: str) -> str:
    return f"已指派给{name}。"


def resolved_not_sent(reason: str) -> str:
    return f"工单已解决，但处理结果没能发给用户：{reason}请电话告知用户。"


# ---- what became of a message handed to WeChat ------------------------------------------------
DELIVERED = "已送达微信"
ON_ITS_WAY = "已提交微信发送"
_UNDELIVERED = {
    45015: "用户超过48小时没有发消息，微信拒收",
    45047: "超过了微信每条消息最多回复5条的限制",
    43004: "用户已取消关注",
    40003: "微信不认这个用户",
}


def undelivered(errcode: int | None, skipped: bool) -> str:
    """Why a message handed to the outbox did not reach her (a call-back task may be the way on)."""
    if skipped:
        return "未送达：没有发出（见系统日志）"
    reason = _UNDELIVERED.get(errcode or 0, f"微信拒收（错误码{errcode}）" if errcode else "多次重试后仍未发出")
    return f"未送达：{reason}"


# ---- refusals of a console action (ConsoleError: shown to the agent as they are) ---------------
CHAT_GONE = "这个会话已经结束了。"
CHAT_NOT_WAITING = "这个会话已经被接走或已结束。"
CHAT_JUST_TAKEN = "这个会话刚被其他客服接走了。"
TAKE_FIRST = "请先接入这个会话。"
NOT_YOUR_CHAT = "这个会话由其他客服负责。"
EMPTY_REPLY = "回复内容不能为空。"
NO_SUCH_AGENT = "找不到这位客服。"
NO_SUCH_QUEUE = "没有这个队列。"
CHOOSE_OUTCOME = "请选择处理结果。"
NO_SUCH_TASK = "找不到这个任务。"
TASK_ALREADY_DONE = "这个任务已经处理过了。"
OTHER_NEEDS_NOTE = "选择“其他”时请写明备注。"
TASK_JUST_DONE = "这个任务刚被其他客服处理了。"


def reply_too_long(limit: int) -> str:
    return f"回复太长了（最多{limit}字），请分开发或精简。"


def agent_offline(name: str) -> str:
    return f"客服{name}不在线，不能转给他/她。"


def agent_full(name: str, active: int) -> str:
    return f"客服{name}正在服务{active}位客户，已满，请转到队列。"


def billing_refused_reactivation(reason: str) -> str:
    return f"计费系统拒绝了复机：{reason}"


# ---- notes in a conversation's transcript (agents see them, the subscriber does not) -----------
BOT_HISTORY_UNREADABLE = "机器人对话记录暂时读不到"
CLOSING_OWED = "结束语未能立即发出（微信条数限制），将在用户下次发消息时补发"
CLOSING_SENT_LATE = "补发结束语和满意度问题"
FOLLOW_UP_CANNOT_COPE = "用户表示不会用，次日回访教一教"
LOST_PHONE_DO_NOT_CALL = "手机已丢失/被盗，勿拨打原号码：在微信里回复，或打她留下的其他号码。"
FOLLOW_UP_UNSATISFIED = "用户对人工服务不满意，次日回访"
AGENT_CALLBACK_NOTE = "客服创建的回电任务"
END_LABELS = {"handed_back": "转回智能助手", "closed": "结束会话", "unsubscribed": "用户已取消关注"}


def handoff_note(reason_label: str, direct: bool, summary: str | None) -> str:
    return (
        f"转人工：{reason_label}"
        + ("（首条消息直接接入，机器人已作答）" if direct else "")
        + (f"。摘要：{summary}" if summary else "")
    )


def taken_by(agent: str) -> str:
    return f"客服{agent}接入"


def transferred_to_agent(agent: str, target: str) -> str:
    return f"客服{agent}转给客服{target}"


def transferred_to_queue(agent: str, queue_label: str) -> str:
    return f"客服{agent}转到{queue_label}"


def green_channel_note(agent: str, masked_phone: str, outcome: str) -> str:
    return f"绿色通道：客服{agent}为{masked_phone}办理复机，结果：{outcome}"


def ended_by(actor: str, reason: str) -> str:
    return f"{actor}：{END_LABELS.get(reason, reason)}"


def auto_assigned(agent: str) -> str:
    return f"自动分配给客服{agent}"


def requeued_agent_offline(agent: str) -> str:
    return f"客服{agent}已离线，会话重新排队"


def callback_created_note(agent: str, due: str) -> str:
    return f"客服{agent}创建了回电任务（{due}前）"


def callback_promised(deadline: str, task_id: int) -> str:
    return f"已承诺回电（{deadline}前），回电任务#{task_id}"


def callback_kept_in_chat(chat_id: int) -> str:
    return f"已在会话#{chat_id}中由人工解决"


def callback_closed(task_id: int) -> str:
    return f"回电任务#{task_id}已关闭（本次会话已解决）"


def closing_not_sent(reason: str | None) -> str:
    return f"结束语未能发出：{reason or ''}"


def satisfaction(label: str) -> str:
    return f"满意度：{label}"


def reply_audit(chars: int, sent: bool) -> str:
    return f"{chars}字，{'已发出' if sent else '未发出'}"


def agent_label(name: str) -> str:
    return f"客服{name}"


def transfer_audit(target_label: str) -> str:
    return f"转到{target_label}"


def reactivation_outcome(active: bool) -> str:
    return "已复机" if active else "已解除停机保号，但仍欠费停机"


# ---- how a subscriber's message that is not plain text reads in the transcript -----------------
def location(where: str) -> str:
    return f"位置：{where}"


LINK = "链接"


def subscriber_event(event: str, key: str) -> str:
    return f"用户操作：{event} {key}".strip()


def other_message(kind: str) -> str:
    return f"（{kind}消息）"
