"""Small labelled corpora written for these tests, and helpers that train heads on them.
The corpora are plain lists, so the classifier tests use them without Django."""

REPAIRS = [
    "空调不制冷，出风口吹的是热风",
    "冰箱不制冷了，冷藏室温度很高",
    "洗衣机漏水，地上全是水",
    "热水器打不着火，没有热水",
    "空调外机噪音很大，嗡嗡响",
    "洗衣机脱水时机器晃得厉害",
    "冰箱显示屏不亮，按键没反应",
    "热水器显示E4故障，无法加热",
    "空调开机显示E1故障码然后停机",
]
INQUIRIES = [
    "请问保修期是多久，需要什么凭证",
    "请问上门清洗一次多少钱",
    "想咨询一下以旧换新的政策",
    "请问发票可以补开吗",
    "遥控器丢了，请问可以单独购买吗",
    "请问你们周末可以上门安装吗",
    "想问一下延保服务怎么收费",
    "请问这款空调适合多大面积的房间",
    "咨询一下购买凭证丢了还能保修吗",
]
COMPLAINTS = [
    "师傅迟到了四个小时，非常不满意，我要投诉",
    "客服电话一直打不通，太过分了",
    "维修后又坏了，这是第三次了，要求给个说法",
    "安装收费不合理，乱收材料费，我要投诉",
    "师傅态度恶劣，还骂人，必须处理",
    "说好的上门时间没人来，也不打电话，我要投诉",
    "退款拖了一个月还没到账，太坑人了",
    "多次反映问题没人处理，我要向12315投诉",
    "工程师把我家墙弄脏了也不管，非常不满意",
]
KIND_TEXTS = REPAIRS + INQUIRIES + COMPLAINTS
KIND_LABELS = ["repair"] * 9 + ["inquiry"] * 9 + ["complaint"] * 9
SENTIMENT_TEXTS = [
    *COMPLAINTS,
    *REPAIRS,
    "师傅很专业，半小时就修好了，谢谢",
    "服务很好，非常满意，点赞",
    "已经修好了，谢谢你们",
    "安装师傅很细心，给五星好评",
    "客服回复很快，问题解决了，谢谢",
    "上门很准时，态度很好，满意",
    "机器用着很好，感谢售后",
    "问题解决了，非常感谢师傅",
    "处理得很及时，谢谢客服",
]
SENTIMENT_LABELS = ["angry"] * 9 + ["negative"] * 9 + ["positive"] * 9


def train_kind(**kwargs):
    from aftercare.assist import services

    return services.train_head(
        head="kind", texts=KIND_TEXTS, labels=KIND_LABELS, source="tests", **kwargs
    )


def train_sentiment(**kwargs):
    from aftercare.assist import services

    return services.train_head(
        head="sentiment", texts=SENTIMENT_TEXTS, labels=SENTIMENT_LABELS, source="tests", **kwargs
    )
