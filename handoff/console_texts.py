"""The few console texts the handlers themselves produce: flash messages after an action and
the plain-text error responses. Everything else the agents read is in handoff/templates/."""

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
