"""What the subscriber reads during a handoff. Elderly subscribers get shorter, plainer words."""

from __future__ import annotations

HANDED_BACK = "已为您转回智能助手。"
HANDED_BACK_ELDER = "已为您转回智能助手。有事直接说。"
CLOSED = "本次人工服务已结束，谢谢您。还有问题随时留言。"
CLOSED_ELDER = "人工服务结束了，谢谢您。有事再留言。"


def waiting(ahead: int, elder: bool) -> str:
    if elder:
        return f"前面还有{ahead}位，客服马上来，请稍等。" if ahead else "客服马上来，请稍等。"
    if ahead:
        return f"正在为您转接人工客服，您前面还有{ahead}位，客服马上来。"
    return "正在为您转接人工客服，客服马上来。"


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


def callback_without_number(deadline: str, elder: bool) -> str:
    if elder:
        return f"客服会在{deadline}前回复您。"
    return f"您还没有绑定手机号，客服会在{deadline}前在这里回复您。"
