"""Check dataset files against their public formats and report every bad entry with its file and index.

    python tools/validate_dataset.py PATH [PATH ...] [--format auto|coco|lvis|refer|vg|flickr30k|chat]
        [--img-dir DIR] [--image-check none|exists|header|decode] [--json REPORT.json|-]

PATH is a COCO/MDETR json, an LVIS v1 json (``--img-dir``: the COCO root, which holds train2017/ and val2017/),
a refer ``refs(*).p`` (its ``instances.json`` beside it, or ``--instances``),
a Visual Genome ``region_descriptions.json`` (``image_data.json`` beside it, or ``--image-data``), a
Flickr30k Entities folder, or a LLaVA / ShareGPT-4V / Groma-Instruct json. The format is detected unless
``--format`` says it (aliases: llava, sharegpt4v, groma_instruct, refcoco, mdetr). Images are looked up
under ``--img-dir`` (default: an ``images/`` folder beside the file or one level up).

Exit status: 0 when nothing is wrong, 1 when any bad entry was found, 2 on a usage error.
"""
import argparse
import json
import sys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('paths', nargs='+', metavar='PATH', help='dataset file(s) or folder(s)')
    parser.add_argument('--format', default='auto', help='dataset format (default: detect)')
    parser.add_argument('--img-dir', help='image folder (default: guessed from the path)')
    parser.add_argument('--image-check', default='header', choices=('none', 'exists', 'header', 'decode'),
                        help='how hard to check images: header (default) opens each one and reads its size; '
                        'decode reads every pixel (slow); exists only stats the file')
    parser.add_argument('--box-tolerance', type=float, default=1.0,
                        help='pixels a box may stick out of the image before it counts as outside')
    parser.add_argument('--instances', help='refer: the instances.json (default: beside the refs pickle)')
    parser.add_argument('--image-data', help='Visual Genome: image_data.json (default: beside the regions file)')
    parser.add_argument('--json', metavar='FILE', help='also write the full report as json ("-": stdout only)')
    parser.add_argument('--max-print', type=int, default=20, help='bad entries printed per path (all go in --json)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from groma_mm.datasets.validation import format_issue, validate

    to_stdout = args.json == '-'
    log = sys.stderr if to_stdout else sys.stdout
    reports = []
    for path in args.paths:
        try:
            report = validate(path, args.format, args.img_dir, args.image_check, args.box_tolerance, args.instances,
                              args.image_data)
        except (ValueError, FileNotFoundError) as err:
            print(f'error: {err}', file=sys.stderr)
            return 2
        reports.append(report)
        issues = report['issues']
        print(f'{path}: format {report["format"]}, images from {report["img_dir"]}: '
              f'{len(issues)} bad entr{"y" if len(issues) == 1 else "ies"}', file=log)
        for item in issues[:args.max_print]:
            print('  ' + format_issue(item), file=log)
        if len(issues) > args.max_print:
            print(f'  ... and {len(issues) - args.max_print} more (--max-print, --json)', file=log)
        if report['counts']:
            print('  by kind: ' + ', '.join(f'{k} {n}' for k, n in sorted(report['counts'].items())), file=log)
    total = sum(len(r['issues']) for r in reports)
    result = dict(num_issues=total, reports=reports)
    if to_stdout:
        json.dump(result, sys.stdout, indent=1, default=str)
        print()
    elif args.json:
        with open(args.json, 'w') as f:
            json.dump(result, f, indent=1, default=str)
    print(f'{"OK" if not total else "FAILED"}: {total} bad entr{"y" if total == 1 else "ies"} in '
          f'{len(reports)} dataset(s)', file=log)
    return 1 if total else 0


if __name__ == '__main__':
    sys.exit(main())
