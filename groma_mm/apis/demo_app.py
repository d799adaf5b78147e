"""The Groma web demo (gradio): upload or pick an image, draw or type boxes, ask, see grounded answers.

Concurrent users are queued and answered together: gradio's queue hands :meth:`GromaDemo.answer_batch`
up to ``max_batch_size`` requests at once, and requests with the same generation settings go through one
``GromaInferencer.chat`` call (one padded forward and one ``generate``).
"""
import logging
import os
import re
from collections import defaultdict
from typing import List, Optional, Sequence, Tuple

import numpy as np

from groma_mm.apis.chat_session import (MODE_HELP, MODES, ChatSession, GenerationSettings, Turn, answer_html,
                                        box_legend, corner_box, format_boxes, parse_boxes, result_record)
from groma_mm.apis.inferencer import GromaInferencer, GroundedResult
from groma_mm.apis.inputs import InputError, check_boxes, to_bgr_uint8
from groma_mm.apis.visualization import draw_grounded_result

logger = logging.getLogger(__name__)

# The page must not reach the network: no analytics, and only system fonts (the default theme loads
# web fonts).
os.environ.setdefault('GRADIO_ANALYTICS_ENABLED', 'False')

# gradio's page template links a CDN script (iframe resizing when embedded) and preconnects to web-font
# hosts; the demo needs neither, and a page that reaches out would fail or leak on an offline machine.
_REMOTE = r'"https?://(?!127\.0\.0\.1|localhost)[^"]*"'
_REMOTE_TAGS = re.compile(rf'<link\b[^>]*?\bhref={_REMOTE}[^>]*>|<script\b[^>]*?\bsrc={_REMOTE}[^>]*>\s*</script>',
                          re.S)

_CSS = """
.groma-error {color: #b00020; font-weight: 600; padding: 6px 0;}
.groma-answer {font-size: 1.05em; line-height: 1.6; padding: 6px 0;}
.groma-phrase {padding: 0 2px; border-radius: 3px;}
"""


class GromaDemo:
    """Request handling of the web demo, independent of the page (so it is testable on its own).

    Args:
        inferencer: a loaded :class:`GromaInferencer`.
        examples: image files offered as examples.
        max_batch_size: at most this many queued requests are answered in one call.
    """

    def __init__(self, inferencer: GromaInferencer, examples: Sequence[str] = (), max_batch_size: int = 4) -> None:
        self.inferencer = inferencer
        self.examples = [p for p in examples if os.path.isfile(p)]
        self.max_batch_size = max_batch_size

    # ------------------------------------------------------------------------------------ requests
    def _prepare(self, image_rgb, boxes_text: str, question: str, mode: str, session: Optional[ChatSession],
                 settings: GenerationSettings) -> Tuple[ChatSession, Turn, List[List[float]], dict, np.ndarray]:
        session = session if isinstance(session, ChatSession) else ChatSession()
        if image_rgb is None:
            session.set_image(None)
        elif session.image is None or session.image.shape != image_rgb.shape or not np.array_equal(
                session.image, image_rgb):
            session.set_image(image_rgb)
        session.boxes = parse_boxes(boxes_text)
        turn = session.turn(question, mode)
        image_bgr = to_bgr_uint8(np.ascontiguousarray(image_rgb[..., ::-1]), 'the image')
        height, width = image_bgr.shape[:2]
        boxes = check_boxes(session.boxes, width, height, self.inferencer.max_boxes, 'the image').tolist()
        return session, turn, boxes, settings.to_generation_cfg(), image_bgr

    def answer_batch(self, images, boxes_texts, questions, modes, max_new_tokens, temperatures, top_ps, greedys,
                     sessions):
        """gradio batch function: every argument is a list with one entry per queued request.

        Returns:
            lists of answer HTML, drawing (RGB), JSON record and session, one entry per request. A bad
            request gets its message as the answer; the others are answered.
        """
        n = len(questions)
        logger.info('answering %d request(s) in one batch', n)
        answers, drawings, records = [''] * n, [None] * n, [{}] * n
        sessions = list(sessions)
        groups = defaultdict(list)
        prepared = {}
        for i in range(n):
            settings = GenerationSettings(int(max_new_tokens[i]), float(temperatures[i]), float(top_ps[i]),
                                          bool(greedys[i]))
            try:
                session, turn, boxes, generation, image_bgr = self._prepare(images[i], boxes_texts[i], questions[i],
                                                                            modes[i], sessions[i], settings)
            except InputError as err:
                answers[i], records[i] = answer_html(GroundedResult(error=str(err))), {'error': str(err)}
                continue
            sessions[i] = session
            prepared[i] = (turn, boxes, image_bgr)
            if turn.kind == 'answer':
                groups[tuple(sorted(generation.items()))].append(i)
            else:
                proposals = self.inferencer.propose(image_bgr)
                answers[i] = f'<div class="groma-answer">{len(proposals["bboxes"])} regions proposed</div>'
                drawings[i] = draw_grounded_result(image_bgr, proposals=proposals)
                records[i] = result_record(GroundedResult(), proposals)
        for generation, members in groups.items():
            try:
                results = self.inferencer.chat([prepared[i][2] for i in members],
                                               [prepared[i][0].conversation for i in members],
                                               boxes=[prepared[i][1] for i in members],
                                               grounding=[prepared[i][0].grounding for i in members],
                                               batch_size=len(members), **dict(generation))
            except Exception as err:  # noqa: BLE001 — the page shows the reason; the server keeps serving
                logger.exception('the model failed on a batch of %d requests', len(members))
                results = [GroundedResult(error=f'the model failed on this request: {err}')] * len(members)
            for i, result in zip(members, results):
                turn, boxes, image_bgr = prepared[i]
                sessions[i].remember(turn, modes[i], result)
                answers[i], records[i] = answer_html(result), result_record(result)
                if not result.error:
                    drawings[i] = draw_grounded_result(image_bgr, result=result, user_boxes=boxes)
        return answers, drawings, records, sessions

    # ------------------------------------------------------------------------------------ page events
    @staticmethod
    def on_new_image(image_rgb, session):
        session = session if isinstance(session, ChatSession) else ChatSession()
        session.set_image(image_rgb)
        return session, '', box_legend([]), None

    @staticmethod
    def on_click(corner, boxes_text, evt):
        """Two clicks on the image are two opposite corners of a new box."""
        point = (float(evt.index[0]), float(evt.index[1]))
        if corner is None:
            return point, boxes_text, f'First corner at ({point[0]:.0f}, {point[1]:.0f}); click the opposite one.'
        try:
            boxes = parse_boxes(boxes_text) + [corner_box(tuple(corner), point)]
        except InputError as err:
            return None, boxes_text, f'⚠ {err}'
        return None, format_boxes(boxes), box_legend(boxes)

    @staticmethod
    def on_boxes_typed(boxes_text):
        try:
            return box_legend(parse_boxes(boxes_text))
        except InputError as err:
            return f'⚠ {err}'

    @staticmethod
    def on_reset(session):
        session = session if isinstance(session, ChatSession) else ChatSession()
        session.reset()
        return session, '', None, {}

    # ------------------------------------------------------------------------------------ page
    def build(self):
        """The gradio Blocks app."""
        import gradio as gr

        theme = gr.themes.Default(font=['system-ui', 'sans-serif'], font_mono=['ui-monospace', 'monospace'])
        with gr.Blocks(title='Groma', theme=theme, css=_CSS, analytics_enabled=False) as app:
            gr.Markdown('## Groma — ask about an image, refer to boxes, get grounded answers')
            session = gr.State(None)
            corner = gr.State(None)
            with gr.Row():
                with gr.Column():
                    image = gr.Image(type='numpy', label='Image (click two corners to draw a box)',
                                     sources=['upload', 'clipboard'], elem_id='input_image')
                    if self.examples:
                        gr.Examples(self.examples, inputs=image, label='Examples')
                    boxes_text = gr.Textbox(label='Boxes (x1 y1 x2 y2; …) — named <box0>, <box1>, …',
                                            elem_id='boxes')
                    legend = gr.Markdown(box_legend([]), elem_id='box_legend')
                    mode = gr.Radio(list(MODES), value='chat', label='Mode', elem_id='mode',
                                    info=' · '.join(f'{k}: {v}' for k, v in MODE_HELP.items()))
                    question = gr.Textbox(label='Question', placeholder='What is <box0> doing?', elem_id='question')
                    with gr.Accordion('Generation settings', open=False):
                        max_new_tokens = gr.Slider(1, 512, value=64, step=1, label='Max new tokens',
                                                   elem_id='max_new_tokens')
                        temperature = gr.Slider(0.05, 2.0, value=1.0, step=0.05, label='Temperature')
                        top_p = gr.Slider(0.05, 1.0, value=1.0, step=0.05, label='Top-p')
                        greedy = gr.Checkbox(value=True, label='Greedy (off: sample with temperature / top-p)')
                    with gr.Row():
                        submit = gr.Button('Ask', variant='primary', elem_id='submit')
                        reset = gr.Button('Reset chat', elem_id='reset')
                with gr.Column():
                    answer = gr.HTML(elem_id='answer')
                    drawing = gr.Image(label='Answer on the image', interactive=False, elem_id='output_image')
                    record = gr.JSON(label='Raw answer, spans and boxes (pixels)', elem_id='raw_json')

            image.upload(self.on_new_image, [image, session], [session, boxes_text, legend, drawing])
            image.clear(self.on_new_image, [image, session], [session, boxes_text, legend, drawing])

            def click(corner_value, boxes_value, evt: gr.SelectData):
                return self.on_click(corner_value, boxes_value, evt)

            image.select(click, [corner, boxes_text], [corner, boxes_text, legend])
            boxes_text.change(self.on_boxes_typed, boxes_text, legend)
            inputs = [image, boxes_text, question, mode, max_new_tokens, temperature, top_p, greedy, session]
            outputs = [answer, drawing, record, session]
            submit.click(self.answer_batch, inputs, outputs, batch=True, max_batch_size=self.max_batch_size)
            question.submit(self.answer_batch, inputs, outputs, batch=True, max_batch_size=self.max_batch_size)
            reset.click(self.on_reset, session, [session, answer, drawing, record])
        app.queue(default_concurrency_limit=1)
        return app


def strip_remote_tags(page: str) -> str:
    """The page without ``<link href=…>`` / ``<script src=…>`` tags that point off this machine."""
    return _REMOTE_TAGS.sub('', page)


def offline_app(blocks, **mount_kwargs):
    """A FastAPI app serving ``blocks`` with every remote script/link tag removed from its HTML pages."""
    import gradio as gr
    from fastapi import FastAPI
    from fastapi.responses import Response

    app = FastAPI()

    @app.middleware('http')
    async def _local_only(request, call_next):
        response = await call_next(request)
        if not response.headers.get('content-type', '').startswith('text/html'):
            return response
        body = b''.join([chunk async for chunk in response.body_iterator])
        page = strip_remote_tags(body.decode('utf-8'))
        headers = {k: v for k, v in response.headers.items() if k.lower() != 'content-length'}
        return Response(page, status_code=response.status_code, headers=headers, media_type='text/html')

    return gr.mount_gradio_app(app, blocks, path='', **mount_kwargs)
