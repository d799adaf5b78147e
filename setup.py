from setuptools import find_packages, setup


def readme():
    with open('README.md', encoding='utf-8') as f:
        return f.read()


setup(
    name='groma_mm',
    version='0.1.0',
    description='Groma grounded multimodal LLM as OpenMMLab (mmdet/mmpretrain) parts',
    long_description=readme(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['groma_mm', 'groma_mm.*']),
    python_requires='>=3.10',
    install_requires=[
        'mmengine==0.10.7', 'mmcv==2.1.0', 'mmdet==3.3.0', 'mmpretrain==1.2.0',
        'pycocotools', 'transformers>=4.45,<4.52'
    ],
    extras_require=dict(lora=['peft'], gguf=['gguf']),
)
