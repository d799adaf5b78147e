"""Chat with Groma about one image in the terminal (multi-turn, like xtuner's chat).

    python tools/chat.py CONFIG CKPT --image IMG [--box x1 y1 x2 y2 ...] [--device cuda]
        [--max-new-tokens N] [--temperature T --top-p P] [--out-dir DIR]

Type a question and press Enter; refer to your boxes as <box0>, <box1>, … Start a question with
"[grounding]" for an answer whose phrases point at boxes. Commands:
    /image PATH          talk about another image (clears boxes and history)
    /box x1 y1 x2 y2     add a box (the next <boxK>); "/box" alone lists them, "/box clear" removes them
    /reset               forget the conversation (keep image and boxes)
    /save [FILE]         draw the last answer (and your boxes) to FILE (default OUT_DIR/chat_<n>.jpg)
    /exit                leave (end of input does too)
"""
import argparse
import os
import os.path as osp
import sys

from mmengine.config import DictAction


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--image', required=True)
    parser.add_argument('--box', nargs=4, type=float, action='append', metavar=('X1', 'Y1', 'X2', 'Y2'))
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--max-new-tokens', type=int, default=128)
    parser.add_argument('--temperature', type=float)
    parser.add_argument('--top-p', type=float)
    parser.add_argument('--out-dir', default='outputs')
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help='allow a checkpoint that needs arbitrary Python objects (only files you trust)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings')
    return parser.parse_args()


class TerminalChat:
    """The read-answer loop; ``write`` is where its output goes (stdout by default)."""

    def __init__(self, inferencer, image: str, boxes, generation: dict, out_dir: str, write=print) -> None:
        from groma_mm.apis.chat_session import ChatSession
        self.inferencer, self.generation, self.out_dir, self.write = inferencer, generation, out_dir, write
        self.session = ChatSession()
        self.last = None
        self.saved = 0
        self.load_image(image)
        self.add_boxes(boxes or [])

    def load_image(self, path: str) -> None:
        from groma_mm.apis.inputs import load_image
        self.session.set_image(load_image(path, path))
        self.image_path, self.last = path, None

    def handle(self, line: str) -> bool:
        """One line of input; ``False`` when the chat should end."""
        from groma_mm.apis.inputs import InputError
        line = line.strip()
        if not line:
            return True
        command, _, rest = line.partition(' ')
        try:
            if command in ('/exit', '/quit'):
                return False
            if command == '/reset':
                self.session.reset()
                self.write('(conversation cleared)')
            elif command == '/image':
                self.load_image(rest.strip())
                self.write(f'(now talking about {rest.strip()}; boxes and history cleared)')
            elif command == '/box':
                self._box(rest.strip())
            elif command == '/save':
                self._save(rest.strip())
            elif command.startswith('/'):
                self.write(f'unknown command {command}; commands: /image /box /reset /save /exit')
            else:
                self._ask(line)
        except InputError as err:
            self.write(f'error: {err}')
        return True

    def add_boxes(self, boxes) -> None:
        """Append boxes after the same checks the model's inputs get (inside the image, not degenerate)."""
        from groma_mm.apis.inputs import check_boxes
        height, width = self.session.image.shape[:2]
        boxes = [list(map(float, b)) for b in boxes]
        check_boxes(self.session.boxes + boxes, width, height, self.inferencer.max_boxes, self.image_path)
        self.session.boxes += boxes

    def _box(self, rest: str) -> None:
        from groma_mm.apis.chat_session import parse_boxes
        if rest == 'clear':
            self.session.boxes = []
        elif rest:
            self.add_boxes(parse_boxes(rest))
        for k, box in enumerate(self.session.boxes):
            self.write(f'<box{k}>: [{", ".join(f"{v:g}" for v in box)}]')
        if not self.session.boxes:
            self.write('(no boxes)')

    def _ask(self, question: str) -> None:
        turn = self.session.turn(question, 'chat')
        result = self.inferencer.chat(self.session.image, turn.conversation, boxes=self.session.boxes or None,
                                      grounding=turn.grounding, **self.generation)
        if result.error:
            self.write(f'error: {result.error}')
            return
        self.session.remember(turn, 'chat', result)
        self.last = result
        self.write(f'Groma: {result.text}')
        for span in result.spans:
            boxes = ' '.join('[' + ', '.join(f'{v:.1f}' for v in b) + ']' for b in span['boxes'])
            self.write(f'  {span["phrase"] or "<region>"}: {boxes}')

    def _save(self, path: str) -> None:
        from groma_mm.apis.visualization import draw_grounded_result
        if path == '':
            self.saved += 1
            path = osp.join(self.out_dir, f'chat_{self.saved}.jpg')
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
        draw_grounded_result(self.session.image, result=self.last, user_boxes=self.session.boxes or None,
                             out_file=path)
        self.write(f'(saved {path})')


def main():
    args = parse_args()
    from groma_mm.apis import GromaInferencer
    from groma_mm.apis.inputs import InputError
    from groma_mm.utils import load_config
    cfg = load_config(args.config, args.cfg_options)
    inferencer = GromaInferencer(cfg, args.checkpoint, device=args.device,
                                 **(dict(trust_checkpoint=True) if args.trust_checkpoint else {}))
    generation = dict(max_new_tokens=args.max_new_tokens)
    if args.temperature is not None or args.top_p is not None:
        generation.update(do_sample=True, temperature=args.temperature or 1.0, top_p=args.top_p or 1.0)
    try:
        chat = TerminalChat(inferencer, args.image, args.box, generation, args.out_dir)
    except InputError as err:
        print(f'error: {err}', file=sys.stderr)
        sys.exit(1)
    interactive = sys.stdin.isatty()
    print(f'Chatting about {args.image}. /exit to leave, /save to draw the last answer.', flush=True)
    while True:
        if interactive:
            print('> ', end='', flush=True)
        line = sys.stdin.readline()
        if not line or not chat.handle(line):
            break
        sys.stdout.flush()


if __name__ == '__main__':
    main()
